"""Issue 21's "done means", as one user's day and the day after, on every store: retry twice,
flip back to the first answer with Alt-Left, edit turn 2 of 6, continue a cut-off answer,
correct a wrong fact in an answer, include another thread, quit; tomorrow every version, branch
and choice is exactly as left, and the requests send what was chosen. Through the real App
against the local server; each day a new process's worth of objects on the same store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session, editor_replacing

from repl.store import ThreadStore

ALT_LEFT = "\x1b[1;3D"


@pytest.fixture
def corrector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's editor: it corrects "Rhone" to "Seine"."""
    monkeypatch.setenv("VISUAL", editor_replacing(tmp_path, "Rhone", "Seine"))


def shown(s: Session) -> list[str]:
    return [m.content for m in s.store.messages("story")]


def sent(server: FakeOpenAI) -> list[str]:
    return [str(m["content"]) for m in server.sent_messages()]


TODAY = ["q1", "answer A", "Q2", "echo: Q2", "capital?", "The capital of France is Paris.",
         "its river?", "The river is the Seine."]


def test_a_day_of_versions_edits_continues_corrections_and_includes_is_there_tomorrow(
        api_env: dict[str, str], server: FakeOpenAI, corrector: None,
        store_at: Callable[[], ThreadStore]) -> None:
    async def today() -> None:
        s = await Session(store=store_at(), width=200).start("notes")
        await s.line("the code word is heron")
        await s.line("/switch story")
        server.queue(Reply("answer A"), Reply("answer B"), Reply("answer C"))
        await s.line("q1")
        await s.line("/retry")
        assert "‹3/3›" in await s.line("/retry")
        for _ in range(2):  # back to the first answer, asking nothing
            s.pipe.send_text(ALT_LEFT)
            await s.wait_prompt()
        for n in range(2, 7):
            await s.line(f"q{n}")
        await s.line("/edit 2", wait=False)
        await s.wait_prompt()  # the line editor, holding "q2"
        await s.line("\x7f" * 2 + "Q2")
        assert sent(server) == ["q1", "answer A", "Q2"]  # nothing of turns 3 to 6
        server.queue(Reply("The capital of France is Par", finish="length"),
                     Reply("is."))
        assert "output limit" in await s.line("capital?")
        await s.line("/continue")
        server.queue(Reply("The river is the Rhone."))
        await s.line("its river?")
        assert "(edited by you)" in await s.line("/edit --answer")
        assert shown(s) == TODAY
        await s.line("/include notes")
        await s.line("what was the code word?")
        asked = sent(server)
        assert asked[:-1] == TODAY and "answer B" not in asked and "Rhone" not in str(asked)
        assert asked[-1].startswith("what was the code word?") and "heron" in asked[-1]
        await s.quit()

    async def tomorrow() -> None:
        s = await Session(store=store_at(), width=200).start("story")
        assert shown(s)[:len(TODAY)] == TODAY  # the choices as left
        versions = await s.line("/versions 1")
        assert all(f"answer {x}" in versions for x in "ABC"), versions
        assert "‹1/3›" in await s.line("/history 5")
        assert "edited by you" in await s.line("/history 2")
        assert "📎 thread notes" in await s.line("/history 1")  # stored with its question
        await s.line("and tomorrow?")  # what was chosen is what is sent
        asked = sent(server)
        assert asked[:len(TODAY)] == TODAY and asked[-1] == "and tomorrow?"
        assert "heron" in asked[len(TODAY)]  # the included thread, sent with its question
        await s.line("/version q1 2")  # the branch the edit left: turns 3 to 6 come back
        assert shown(s)[2:4] == ["q2", "echo: q2"] and shown(s)[-2:] == ["q6", "echo: q6"]
        await s.quit()

    asyncio.run(today())
    asyncio.run(tomorrow())

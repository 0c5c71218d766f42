"""The conversation as a tree (issue 21): versions, /version, Alt-Left/Alt-Right, /edit TURN,
/edit --answer, /undo and /redo on top, on every store, across a restart and two sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session, editor_replacing

from repl.store import ThreadStore

ALT_LEFT, ALT_RIGHT = "\x1b[1;3D", "\x1b[1;3C"


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def shown(s: Session, thread: str = "t") -> list[str]:
    return [m.content for m in s.store.messages(thread)]


def sent(server: FakeOpenAI, index: int = -1) -> list[str]:
    return [m["content"] for m in server.sent_messages(index)]


async def key(s: Session, keys: str) -> str:
    """Press ``keys`` at the prompt; the output until the next prompt."""
    before = len(s.text)
    s.pipe.send_text(keys)
    await s.wait_prompt()
    return s.text[before:]


# -- versions of an answer ------------------------------------------------------------------------


def test_retry_twice_flip_back_with_alt_left_and_find_it_after_a_restart(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    async def first() -> None:
        s = await Session(store=store_at()).start("t")
        await s.line("first")
        server.queue(Reply("answer A"), Reply("answer B"), Reply("answer C"))
        await s.line("second")
        out = await s.line("/retry")
        assert "‹2/2›" in out and "answer B" in out
        out = await s.line("/retry")
        assert "‹3/3›" in out and "answer C" in out
        requests = len(server.requests)
        out = await key(s, ALT_LEFT)  # reprinted, not asked again
        assert "‹2/3›" in out and "answer B" in out and "answer C" not in out
        out = await key(s, ALT_LEFT)
        assert "‹1/3›" in out and "answer A" in out
        out = await key(s, ALT_LEFT)
        assert "is the first version" in out
        out = await key(s, ALT_RIGHT)
        assert "‹2/3›" in out and "answer B" in out
        assert len(server.requests) == requests
        assert shown(s) == ["first", "echo: first", "second", "answer B"]
        out = await s.line("/versions")
        assert "* 2" in out and out.count("gpt-4o-mini") == 3, out
        await s.quit()

    async def second() -> None:
        s = await Session(store=store_at()).start("t")
        assert "answer B" in s.text and "‹2/3›" in s.text  # the turns shown on opening
        out = await s.line("/history")
        assert "‹2/3›" in out
        await s.line("third")
        assert sent(server) == ["first", "echo: first", "second", "answer B", "third"]
        await s.line("/version 3 2")  # turn 2's answer C: what followed B steps aside with it
        assert shown(s) == ["first", "echo: first", "second", "answer C"]
        await s.line("/version 2 2")  # back: B brings its turn 3 back
        assert shown(s) == ["first", "echo: first", "second", "answer B", "third",
                            "echo: third"]
        await s.quit()

    run(first())
    run(second())


def test_versions_lists_number_time_model_and_first_line(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply("one\nmore lines"), Reply("two"))
        await s.line("q")
        await s.line("/retry")
        out = await s.line("/versions")
        rows = [line.strip() for line in out.splitlines() if "·" in line and "turn" not in line]
        assert len(rows) == 2, out
        assert rows[0].startswith("1 ") and "gpt-4o-mini · one…" in rows[0]
        assert rows[1].startswith("* 2") and "gpt-4o-mini · two" in rows[1]
        out = await s.line("/version 5")
        assert "error:" in out and "versions 1 to 2" in out
        out = await s.line("/versions 7")
        assert "no turn 7" in out
        await s.quit()

    run(go())


def test_undo_and_redo_step_through_versions_as_one_stack(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    async def go() -> None:
        s = await Session(store=store_at()).start("t")
        server.queue(Reply("A"), Reply("B"), Reply("C"))
        await s.line("q")
        await s.line("/retry")
        await s.line("/retry")
        await s.line("/undo")
        assert shown(s) == ["q", "B"]
        await s.line("/undo")
        assert shown(s) == ["q", "A"]
        await s.line("/redo")
        assert shown(s) == ["q", "B"]
        await s.line("/version 1")
        assert shown(s) == ["q", "A"]
        await s.line("/undo")  # the /version taken back
        assert shown(s) == ["q", "B"]
        await s.line("/undo")  # then the exchange itself
        assert shown(s) == []
        await s.line("/redo")
        assert shown(s) == ["q", "B"]
        everything = s.store.messages("t", hidden=True)
        assert sorted(m.content for m in everything) == ["A", "B", "C", "q"]  # none deleted
        await s.quit()

    run(go())


# -- editing an earlier question -----------------------------------------------------------------


async def four_turns(s: Session) -> None:
    for word in ("one", "two", "three", "four"):
        await s.line(word)


def test_editing_the_turn_before_the_last_says_the_one_turn_after_it_stays(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("one")
        await s.line("two")
        await s.line("/edit 1", wait=False)
        await s.wait_prompt()
        out = await s.line("\x7f" * 3 + "ONE")
        assert "turn 1 ‹2/2› · the turn after it stays stored as a branch (/version q1 1 or " \
               "/undo brings it back)" in " ".join(out.split())
        await s.quit()

    run(go())


def test_edit_turn_2_of_4_sends_only_what_came_before_and_keeps_a_branch(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    async def first() -> None:
        s = await Session(store=store_at()).start("t")
        await four_turns(s)
        await s.line("/edit 2", wait=False)
        await s.wait_prompt()  # the line editor, holding "two"
        out = await s.line("\x7f" * 3 + "TWO")
        assert "turn 2 ‹2/2› · the 2 turns after it stay stored as a branch (/version q1 2 " \
               "or /undo brings them back)" in " ".join(out.split())
        assert sent(server) == ["one", "echo: one", "TWO"]  # nothing after turn 2
        assert shown(s) == ["one", "echo: one", "TWO", "echo: TWO"]
        await s.quit()

    async def second() -> None:
        s = await Session(store=store_at()).start("t")
        assert "‹2/2›" in s.text
        out = await s.line("/versions 2")
        assert "q1" in out and "q2" in out and "5 messages after it" in out
        out = await s.line("/version q1 2")  # the original, with the turns that followed it
        assert "2 more turns follow it" in out
        assert shown(s) == ["one", "echo: one", "two", "echo: two", "three", "echo: three",
                            "four", "echo: four"]
        await s.line("five")
        assert sent(server)[-3:] == ["four", "echo: four", "five"]
        await s.line("/version q2 2")
        assert shown(s) == ["one", "echo: one", "TWO", "echo: TWO"]
        await s.line("after the edit")
        assert sent(server) == ["one", "echo: one", "TWO", "echo: TWO", "after the edit"]
        await s.quit()

    run(first())
    run(second())


def test_undo_after_edit_turn_brings_the_branch_back_and_redo_edits_again(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await four_turns(s)
        await s.line("/edit 3", wait=False)
        await s.wait_prompt()
        await s.line("\x7f" * 5 + "3!")
        assert shown(s)[-2:] == ["3!", "echo: 3!"]
        await s.line("/undo")
        assert shown(s)[-4:] == ["three", "echo: three", "four", "echo: four"]
        await s.line("/redo")
        assert shown(s) == ["one", "echo: one", "two", "echo: two", "3!", "echo: 3!"]
        await s.quit()

    run(go())


def test_two_sessions_on_one_thread_see_each_others_versions(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    async def go() -> None:
        a = await Session(store=store_at()).start("t")
        b = Session(store=store_at())  # another chatrepl: its own store, its lines run as typed
        b.ctx.open("t")

        async def on_b(line: str) -> str:
            before = len(b.text)
            await b.app.handle(line)
            return b.text[before:]

        server.queue(Reply("A"), Reply("B"))
        await a.line("q")
        await a.line("/retry")
        out = await on_b("/history")
        assert "‹2/2›" in out and "B" in out
        await on_b("/version 1")
        await a.line("next")  # a sends what b chose
        assert sent(server) == ["q", "A", "next"]
        out = await on_b("/versions 1")
        assert "* 1" in out and "error" not in out
        await a.quit()
        await b.quit()

    run(go())


# -- correcting an answer --------------------------------------------------------------------------


@pytest.fixture
def corrector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An editor that puts "Paris" in place of "Lyon"."""
    monkeypatch.setenv("VISUAL", editor_replacing(tmp_path, "Lyon", "Paris"))


def test_edit_answer_replaces_what_is_sent_keeps_the_original_and_is_marked(
        api_env: dict[str, str], server: FakeOpenAI, corrector: None, tmp_path: Path,
        store_at: Callable[[], ThreadStore]) -> None:
    async def first() -> None:
        s = await Session(store=store_at()).start("t")
        server.queue(Reply("The capital is Lyon."))
        await s.line("capital of France?")
        await s.line("and its river?")
        out = await s.line("/edit --answer 1")
        assert "(edited by you)" in out and "The capital is Paris." in out
        assert shown(s) == ["capital of France?", "The capital is Paris.", "and its river?",
                            "echo: and its river?"]  # the turn after it follows it
        await s.line("thanks")
        assert "The capital is Paris." in sent(server)
        assert "The capital is Lyon." not in sent(server)
        await s.line(f"/export {tmp_path / 't.md'}")
        await s.quit()

    async def second() -> None:
        s = await Session(store=store_at()).start("t")
        out = await s.line("/history")
        assert "(edited by you)" in out
        out = await s.line("/versions 1")
        assert "The capital is Lyon." in out  # the model's, kept as a version
        await s.quit()

    run(first())
    run(second())
    text = (tmp_path / "t.md").read_text()
    assert "The capital is Paris." in text and "The capital is Lyon." not in text
    assert "edited by the user" in text


def test_opening_marks_an_answer_retried_many_times(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    """The marks on opening read the tail's part of the thread, however many versions lie
    there (more than the tail's own length)."""
    async def first() -> None:
        s = await Session(store=store_at()).start("t")
        await s.line("first")
        await s.line("second")
        for _ in range(20):
            await s.line("/retry")
        await s.quit()

    async def second() -> None:
        s = await Session(store=store_at()).start("t")
        assert "‹21/21›" in s.text, s.text
        await s.quit()

    run(first())
    run(second())

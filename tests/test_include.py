"""/include (issue 21): another thread's conversation attached to the next message, through the
App against the local server: what is sent and what is not, on every store and across a restart;
/attach, /detach, /tokens, the bar, /goto then /include, Tab, the exports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from fakeserver import FakeOpenAI, Reply
from harness import Session

from repl.store import ThreadStore
from repl.thread import MARK


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


async def notes(s: Session) -> None:
    """A thread "notes" of two turns, then back on "work"."""
    await s.line("/switch notes")
    await s.line("the code word is heron")
    await s.line("and the port is 6390")
    await s.line("/switch work")


def test_include_sends_the_thread_with_the_next_message_and_stores_it(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path,
        store_at: Callable[[], ThreadStore]) -> None:
    async def first() -> None:
        s = await Session(store=store_at()).start("work")
        await notes(s)
        out = await s.line("/include notes")
        assert "📎 thread notes · 2 turns · " in out and "1 thread attached" in out
        assert "1 attached" in s.bar()
        out = await s.line("/attach")
        assert "📎 thread notes · 2 turns" in out
        await s.line("what was the code word?")
        sent = server.sent_messages()
        assert len(sent) == 1  # one question: the thread is inside it, not messages of its own
        content = sent[0]["content"]
        assert content.startswith("what was the code word?\n\n")
        assert "user:\nthe code word is heron" in content
        assert "assistant:\necho: and the port is 6390" in content
        question = s.store.messages("work")[0]
        assert question.content.startswith("what was the code word?")
        mark = question.parts[1][MARK] if question.parts else {}
        assert mark == {"file": "thread notes", "thread": "notes", "turns": 2}
        await s.line("and the port?")  # sent once: the stage is empty, the thread is history
        assert server.sent_messages()[-1]["content"] == "and the port?"
        assert "1 attached" not in s.bar()
        await s.quit()

    async def second() -> None:
        s = await Session(store=store_at()).start("work")
        out = await s.line("/history")
        assert "📎 thread notes · 2 turns" in out
        await s.line(f"/export {tmp_path / 'work.md'}")
        await s.line(f"/export {tmp_path / 'work.json'}")
        await s.quit()

    run(first())
    run(second())
    markdown = (tmp_path / "work.md").read_text()
    assert "thread notes" in markdown and "the code word is heron" in markdown
    exported = json.loads((tmp_path / "work.json").read_text())
    messages = exported["messages"] if isinstance(exported, dict) else exported
    assert "the code word is heron" in json.dumps(messages[0])


def test_include_up_to_a_turn_and_a_summary_in_place_of_what_it_covers(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("work")
        await notes(s)
        await s.line("/include notes 1")
        await s.line("q")
        content = server.sent_content()
        assert "heron" in content and "6390" not in content and "1 turn)" in content
        out = await s.line("/include notes 3")
        assert "no turn 3" in out
        await s.line("/switch notes")
        await s.line("a third turn")
        server.queue(Reply("SUMMARY: heron, 6390."))
        await s.line("/compact 1")
        await s.line("/switch work")
        await s.line("/include notes")
        await s.line("again")
        content = server.sent_content()
        assert "summary of the earlier turns:\nSUMMARY: heron, 6390." in content
        assert "the code word is heron" not in content  # covered by the summary
        assert "user:\na third turn" in content
        await s.quit()

    run(go())


def test_detach_drops_an_included_thread_and_tokens_count_it(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("work")
        await notes(s)
        await s.line("/switch big")
        await s.line("word " * 2000)
        await s.line("/switch work")
        before = await s.line("/tokens")
        await s.line("/include big")
        after = await s.line("/tokens")
        assert before != after
        out = await s.line("/include notes")
        assert "2 threads attached" in out
        out = await s.line("/detach big")
        assert "detached 1 thread; 1 thread still attached" in out
        out = await s.line("/detach")
        assert "detached 1 thread" in out
        out = await s.line("/attach")
        assert "nothing attached" in out
        await s.line("plain")
        assert server.sent_content() == "plain"
        out = await s.line("/include nowhere")
        assert "no thread named 'nowhere'" in out
        await s.quit()

    run(go())


def test_goto_then_include_then_switch_back(api_env: dict[str, str], server: FakeOpenAI) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from repl.completion import CommandCompleter

    async def go() -> None:
        s = await Session().start("work")
        await notes(s)
        await s.line("/search heron")
        await s.line("/goto 1")
        assert s.ctx.thread.name == "notes"
        out = await s.line("/include")
        assert "📎 thread notes" in out and "/switch - returns to 'work'" in out
        await s.line("/switch -")
        assert s.ctx.thread.name == "work"
        await s.line("from the search")
        assert "heron" in server.sent_content()
        completer = CommandCompleter(s.ctx)
        found = completer.get_completions_async(Document("/include no"), CompleteEvent())
        assert [c.text async for c in found] == ["notes"]
        await s.quit()

    run(go())

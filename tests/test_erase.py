"""Deliberate erasure through the REPL: /erase TURN and /trash empty [NAME] ask first, say what
they erased, and leave nothing of it in the store."""

from __future__ import annotations

import asyncio

from fakeserver import FakeOpenAI, Reply
from harness import Session


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


async def _answer(s: Session, command: str, answer: str) -> str:
    await s.line(command, wait=False)
    await s.wait_prompt()  # the confirmation question
    return await s.line(answer)


def test_erase_a_turn_with_every_hidden_version(api_env: dict[str, str],
                                                server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("first question")
        await s.line("my secret question")
        server.queue(Reply("a second answer"))
        await s.line("/retry")  # the first answer is hidden, kept
        await s.line("/edit", wait=False)
        await s.wait_prompt()
        await s.line(" edited")  # the question and its answers are hidden, kept
        await s.line("third question")
        contents = [m.content for m in s.store.messages("t", hidden=True)]
        assert len(contents) == 9

        out = await _answer(s, "/erase 2", "n")
        assert "nothing erased" in out
        assert len(s.store.messages("t", hidden=True)) == 9
        out = await _answer(s, "/erase 2", "y")
        assert "erased turn 2 for good: 5 messages, 3 of them taken back earlier" in out
        assert [m.content for m in s.store.messages("t", hidden=True)] == [
            "first question", "echo: first question", "third question", "echo: third question"]
        assert s.ctx.thread.message_count == 4
        out = await s.line("/erase 3")
        assert "usage: /erase TURN, TURN from 1 to 2" in out
        await s.line("after")  # the conversation goes on, without the erased turn
        assert [m["content"] for m in server.sent_messages()] == [
            "first question", "echo: first question", "third question",
            "echo: third question", "after"]
        await s.quit()

    run(go())


def test_trash_empty_asks_then_deletes_for_good(api_env: dict[str, str],
                                                server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("main")
        for name in ("old", "older"):
            await s.line(f"/switch {name}")
            await s.line(f"something in {name}")
            await s.line("/switch main")
            await _answer(s, f"/delete {name}", "y")
        out = await _answer(s, "/trash empty older", "n")
        assert "nothing deleted" in out
        out = await _answer(s, "/trash empty older", "y")
        assert "deleted 1 thread for good: 'older'" in out
        assert [t.name for t in s.store.trash()] == ["old"]
        out = await s.line("/trash empty nosuch")
        assert "no thread named 'nosuch' in the trash; /trash lists it" in out
        out = await _answer(s, "/trash empty", "y")
        assert "deleted 1 thread for good: 'old'" in out
        assert s.store.trash() == []
        out = await s.line("/trash empty")
        assert "the trash is empty" in out
        await s.quit()

    run(go())

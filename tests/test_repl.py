"""The REPL end to end: the real App, through prompt_toolkit's pipe input, against a real HTTP server."""

from __future__ import annotations

import asyncio

from fakeserver import FakeOpenAI, Reply
from harness import Session


def test_talk_and_history_is_resent_after_restart(api_env: dict[str, str],
                                                  server: FakeOpenAI) -> None:
    async def first() -> None:
        s = await Session().start()
        out = await s.line("hello there")
        assert "echo: hello there" in out
        await s.quit()

    async def second() -> None:
        s = await Session().start()
        assert "hello there" in s.text  # the last turns are shown on opening
        await s.line("and again")
        await s.quit()

    asyncio.run(first())
    asyncio.run(second())
    assert server.sent_messages(-1) == [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "echo: hello there"},
        {"role": "user", "content": "and again"},
    ]

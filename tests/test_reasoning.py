"""Stored reasoning read again: collapsed in /history with the command that prints it, and
/reasoning [TURN] printing it whole, dimmed and made safe; never sent back."""

from __future__ import annotations

import asyncio

from fakeserver import FakeOpenAI, Reply
from harness import Session


def test_reasoning_is_collapsed_in_history_and_printed_by_reasoning(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    thought = "First I weigh the options.\nThen \x1b]52;c;eA==\x07 I pick the best one."

    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply("forty-two", reasoning=thought), Reply("plain"))
        await s.line("what is the answer?")
        await s.line("and now?")
        out = await s.line("/history")
        assert f"▸ reasoning ({len(thought):,} characters; /reasoning prints it)" in out
        out = await s.line("/reasoning 1")
        assert f"reasoning of turn 1 (gpt-4o-mini, {len(thought):,} characters)" in out
        assert "First I weigh the options.\nThen ␛]52;c;eA==␇ I pick the best one." in out
        assert "\x1b" not in out
        out = await s.line("/reasoning")
        assert "turn 2's answer has no stored reasoning" in out
        for bad in ("/reasoning 3", "/reasoning x"):
            out = await s.line(bad)
            assert out.startswith("error: ") and len(out.strip().splitlines()) == 1
        assert all(thought not in str(r) for r in server.requests)  # never sent
        await s.quit()

    asyncio.run(go())

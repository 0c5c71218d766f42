"""Issue 20, a daily user's defects: the requests -p/-m and /detach make, attachments as first
class outside the request (search, exports, imports, names), and lines that confused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fakeserver import Failure, FakeOpenAI, Reply
from harness import Session

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def run(coro: Any) -> None:
    asyncio.run(coro)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory the REPL runs in."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# -- item 17: a retryable error offers to try again once ------------------------------------


def test_a_retryable_error_offers_retry_once(api_env: dict[str, str],
                                             server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(503, {"error": {"message": "overloaded"}}))
        out = await s.line("first question")
        [line] = [x for x in out.splitlines() if x.startswith("error:")]
        assert line.endswith("; /retry sends it again"), line
        assert "try again" not in line
        server.queue(Failure(429, {"error": {"message": "slow down"}}, {"retry-after": "3"}))
        out = await s.line("/retry")
        [line] = [x for x in out.splitlines() if x.startswith("error:")]
        assert line.endswith("; wait 3 s, then /retry sends it again"), line
        await s.quit()

    run(go())

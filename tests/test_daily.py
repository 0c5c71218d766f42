"""Issue 20, a daily user's defects: the requests -p/-m and /detach make, attachments as first
class outside the request (search, exports, imports, names), and lines that confused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
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


# -- item 1: -m wins over a preset's model and endpoint -------------------------------------

LOCAL_KEY = "sk-local-key-456"


@pytest.fixture
def other() -> Any:
    s = FakeOpenAI().start()
    yield s
    s.stop()


def write_config(isolated: dict[str, str], text: str) -> Path:
    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def chatrepl(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repl", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def poet(isolated: dict[str, str], other: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    write_config(isolated, f'[endpoints.local]\nbase_url = "{other.url}"\n'
                 'api_key_env = "LOCAL_KEY"\n[presets.poet]\nsystem = "Answer in verse."\n'
                 'model = "local:bard"\ntemperature = 0.9\n')


def test_m_wins_over_the_presets_model_in_one_shot(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    poet(isolated, other, monkeypatch)
    done = chatrepl(dict(os.environ), tmp_path, "-t", "t", "-p", "poet", "-m", "gpt-x", "hi")
    assert done.returncode == 0, done.stderr
    assert not other.requests  # the preset's endpoint is not the run's
    body = server.requests[-1]
    assert body["model"] == "gpt-x" and body["temperature"] == 0.9  # the preset's settings
    assert body["messages"][0] == {"role": "system", "content": "Answer in verse."}
    assert "-m gpt-x for this run" in done.stderr


def test_m_wins_over_the_presets_model_in_the_repl(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    poet(isolated, other, monkeypatch)

    async def go() -> None:
        s = await Session(model="gpt-x").start("t", preset="poet")
        assert "gpt-x" in s.app._toolbar()
        await s.line("hello")
        assert not other.requests and server.requests[-1]["model"] == "gpt-x"
        assert server.requests[-1]["messages"][0]["content"] == "Answer in verse."
        await s.line("/preset poet")  # chosen later, in the REPL: the preset's model now
        await s.line("again")
        assert other.requests[-1]["model"] == "bard"
        await s.quit()

    run(go())

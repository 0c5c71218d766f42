"""Issue 20, a daily user's defects: the requests -p/-m and /detach make, attachments as first
class outside the request (search, exports, imports, names), and lines that confused."""

from __future__ import annotations

import asyncio
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


# -- item 2: /detach takes what /attach took; two notes.txt are told apart -------------------


def test_detach_takes_a_path_or_a_unique_name_and_two_names_are_told_apart(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    for folder in ("a", "b"):
        (work / folder).mkdir()
        (work / folder / "notes.txt").write_text(f"notes of {folder}\n")
    (work / "c").mkdir()
    (work / "c" / "notes.txt").write_text("notes of c\n")
    (work / "cat.png").write_bytes(PNG)

    async def go() -> None:
        s = await Session().start("t")
        out = await s.line("/attach a/notes.txt b/notes.txt c/notes.txt cat.png")
        assert "📎 b/notes.txt · text" in out
        out = await s.line("/detach notes.txt")  # three have that name: none is dropped
        assert "error: notes.txt names 3 attached files (a/notes.txt, b/notes.txt, " \
               "c/notes.txt)" in out
        assert len(s.ctx.staged) == 4
        out = await s.line("/detach c/notes.txt")  # the path /attach took: that one only
        assert "detached 1 file; 3 files still attached" in out
        assert s.ctx.staged == [work / "a" / "notes.txt", work / "b" / "notes.txt",
                                work / "cat.png"]
        await s.line(f"/detach {work / 'cat.png'}")
        out = await s.line("/attach")
        assert "📎 a/notes.txt · text" in out and "📎 b/notes.txt · text" in out
        await s.line("what do they say?")
        sent = server.sent_content()
        assert [p["text"].split("\n")[0] for p in sent[1:]] == [
            '<file name="a/notes.txt">', '<file name="b/notes.txt">']
        await s.quit()

    run(go())


# -- item 12: /detach's Tab quotes a name with spaces ----------------------------------------


def test_detach_completion_quotes_names_with_spaces(api_env: dict[str, str], work: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from repl.completion import CommandCompleter

    (work / "my photo.png").write_bytes(PNG)
    (work / "cat.png").write_bytes(PNG)

    async def go() -> None:
        s = await Session().start("t")
        await s.line('/attach "my photo.png" cat.png')
        completer = CommandCompleter(s.ctx)

        async def complete(text: str) -> list[str]:
            found = completer.get_completions_async(Document(text), CompleteEvent())
            return [c.text async for c in found]

        assert await complete("/detach my") == ['"my photo.png"']
        assert await complete('/detach "my') == ['"my photo.png"']
        assert await complete("/detach cat.png m") == ['"my photo.png"']
        assert await complete("/detach ") == ['"my photo.png"', "cat.png"]
        out = await s.line('/detach "my photo.png"')
        assert "detached 1 file; 1 file still attached" in out
        await s.quit()

    run(go())


# -- items 10, 11: -a is checked at start; a refused one-shot makes no thread ----------------


def test_a_missing_attachment_is_said_at_start_of_the_repl(api_env: dict[str, str],
                                                           work: Path) -> None:
    (work / "cat.png").write_bytes(PNG)

    async def go() -> None:
        s = Session()
        await s.start("t", attach=(work / "missing.png", work / "cat.png"))
        assert f"error: {work / 'missing.png'}: no such file; not attached" in s.text
        assert "📎 cat.png · image/png" in s.text
        assert s.ctx.staged == [work / "cat.png"]
        await s.quit()

    run(go())


def test_a_one_shot_with_a_refused_attachment_makes_no_thread(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    first = chatrepl(api_env, work, "-t", "kept", "hello")
    assert first.returncode == 0, first.stderr
    done = chatrepl(api_env, work, "-t", "new one", "-a", "missing.png", "what is this?")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"chatrepl: {work / 'missing.png'}: no such file; nothing was sent"]
    listed = chatrepl(api_env, work, "--list")
    assert "new one" not in listed.stdout and "* kept" in listed.stdout
    assert len(server.requests) == 1


# -- item 13: an auto-title shows in the bar at once, and its line names both ----------------


def test_an_auto_title_is_in_the_bar_at_once_and_names_both(api_env: dict[str, str],
                                                            server: FakeOpenAI) -> None:
    server.queue(Reply("Knead it well."), Reply("Bread at home"))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/new")
        dated = s.ctx.thread.name
        await s.line("how do I bake bread?")
        await s.until(lambda: "is now" in s.text)
        assert f"thread {dated!r} is now 'Bread at home'" in s.text
        bar = s.app.session.bottom_toolbar  # the prompt on screen, no line typed since
        assert callable(bar) and bar().startswith(" Bread at home · "), bar
        await s.quit()

    run(go())

"""Typing a message (issue 22, Input): a paste without bracketed paste stays one message (in a
pty, in tmux and through the pipe), Ctrl-X Ctrl-E edits it in the user's editor, vi keys with the
mode in the bar.

The paste heuristic is about speed by nature; what these tests check leaves it a wide margin:
many lines written at once (microseconds apart) against lines written 300 ms apart.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session, run, write_config
from pty_session import Terminal, terminals

CHATREPL = Path(sys.executable).with_name("chatrepl")
PASTE = ["first line of the paste", "second line", "", "fourth, after an empty one"]


def installed() -> list[str]:
    if not CHATREPL.exists():
        pytest.skip(f"{CHATREPL} is not installed")
    return [str(CHATREPL)]


@pytest.fixture
def chatrepl(api_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    """The installed chatrepl in a pty (cwd: tmp_path), its first prompt waited for."""
    yield from terminals(api_env, tmp_path, installed())


def asked(server: FakeOpenAI) -> list[str]:
    """Every user message the server was sent, in order, once each."""
    seen: list[str] = []
    for i in range(len(server.requests)):
        users = [m["content"] for m in server.sent_messages(i) if m["role"] == "user"]
        seen.append(users[-1])
    return seen


def prompt_lines(term: Terminal) -> list[str]:
    """The rows of the prompt being typed: from the last '❯ ' row down to the bar."""
    screen = [line.rstrip() for line in term.screen.display]
    starts = [i for i, line in enumerate(screen) if line.startswith("❯")]
    return screen[starts[-1]:-1] if starts else []


# -- a paste without bracketed paste -------------------------------------------------------------


@pytest.mark.slow
def test_a_paste_in_one_write_stays_in_the_prompt_as_one_message(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    term = chatrepl()
    term.send("\r".join(PASTE) + "\r")  # a terminal without bracketed paste: Enter ends each line
    term.wait(lambda: "fourth, after an empty one" in term.text, "the whole paste")
    term.pump(0.5)  # nothing is sent, however long we wait
    assert server.requests == []
    rows = prompt_lines(term)
    assert rows[:4] == ["❯ first line of the paste", "… second line", "…", "… fourth, after an "
                        "empty one"], rows
    term.send("\r")  # the user's own Enter sends it, as one message
    term.wait(lambda: len(server.requests) == 1, "the message")
    term.wait_prompt()
    assert asked(server) == ["\n".join(PASTE) + "\n"]
    assert term.quit() == 0


@pytest.mark.slow
def test_lines_sent_300_ms_apart_are_separate_messages(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    term = chatrepl()
    for sent, text in enumerate(["one", "two", "three"], 1):
        term.send(text + "\r")
        term.wait(lambda n=sent: len(server.requests) == n, f"message {text!r} sent at once")
        term.pump(0.3)
    term.wait_prompt()
    assert asked(server) == ["one", "two", "three"]
    assert term.quit() == 0


@pytest.mark.slow
def test_a_line_and_enter_in_one_write_is_sent(chatrepl: Callable[..., Terminal],
                                               server: FakeOpenAI) -> None:
    """What a fast typist, a test or a macro sends: one line and its Enter, at once."""
    term = chatrepl()
    term.line("hello there")
    assert asked(server) == ["hello there"]
    assert term.quit() == 0


@pytest.mark.slow
def test_a_paste_while_an_answer_streams_runs_line_by_line_as_typed_ahead(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    """Keys waiting when the prompt comes back were typed ahead: each line is its own message
    (chatrepl cannot tell them from a paste made while it was busy)."""
    term = chatrepl()
    server.queue(Reply(text="slow answer " * 30, pieces=60, delay=0.03))
    term.send("first\r")
    term.wait_text("slow answer slow")
    term.send("two\rthree\r")
    term.wait(lambda: len(server.requests) == 3, "both lines typed ahead")
    term.wait_prompt()
    assert asked(server) == ["first", "two", "three"]
    assert term.quit() == 0


def test_a_paste_through_the_pipe_stays_one_message_and_line_still_sends(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start()
        await s.line("before")  # a line and its Enter in one write: sent
        s.pipe.send_text("\r".join(PASTE) + "\r")
        await s.until(lambda: s.app.session.default_buffer.text == "\n".join(PASTE) + "\n")
        await asyncio.sleep(0.3)
        assert len(server.requests) == 1
        await s.line("")  # Enter sends it
        await s.line("after")
        assert asked(server) == ["before", "\n".join(PASTE) + "\n", "after"]
        await s.quit()

    run(go)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed")
def test_tmux_paste_buffer_without_bracketed_paste_is_one_message(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path) -> None:
    tmux = Tmux(tmp_path, api_env)
    try:
        tmux.start(shlex.join(installed()))
        tmux.wait(lambda s: "0 messages" in s, "the prompt")
        (tmp_path / "paste.txt").write_text("\n".join(PASTE) + "\n")
        tmux.run("load-buffer", str(tmp_path / "paste.txt"))
        tmux.run("paste-buffer", "-t", "chat")  # no -p: no bracketed paste; LF becomes CR
        tmux.wait(lambda s: "… fourth, after an empty one" in s, "the paste in the prompt")
        time.sleep(0.5)
        assert server.requests == []
        tmux.run("send-keys", "-t", "chat", "Enter")
        tmux.wait(lambda s: "2 messages" in s, "the answer")
        assert asked(server) == ["\n".join(PASTE) + "\n"]
        # longer than a read (1024 bytes) and the pty's buffer (4 KB): still one message
        big = [f"line {i:03} of a long paste, " + "words " * 5 for i in range(80)]
        (tmp_path / "big.txt").write_text("\n".join(big))
        tmux.run("load-buffer", str(tmp_path / "big.txt"))
        tmux.run("paste-buffer", "-t", "chat")
        # (prompt_toolkit takes its time over a long paste typed as keys: redrawing as it goes)
        tmux.wait(lambda s: "… line 079 of a long paste" in s, "the long paste", timeout=60)
        time.sleep(0.5)
        assert len(server.requests) == 1
        tmux.run("send-keys", "-t", "chat", "Enter")
        tmux.wait(lambda s: "4 messages" in s, "its answer")
        assert asked(server)[1] == "\n".join(big)
    finally:
        tmux.close()


class Tmux:
    """A private tmux server (its socket in the test's directory) running one pane."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.socket = root / "tmux.sock"
        self.env = {k: v for k, v in env.items() if k not in ("TMUX", "COLUMNS", "LINES")}
        self.env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.root = root

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], env=self.env, check=True,
                              capture_output=True, text=True, cwd=self.root).stdout

    def start(self, command: str) -> None:
        conf = self.root / "tmux.conf"
        conf.write_text("set -g status off\nset -g escape-time 10\n")
        self.run("-f", str(conf), "new-session", "-d", "-s", "chat", "-x", "100", "-y", "30",
                 "-c", str(self.root), command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "chat")

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not check(screen := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the pane:\n{screen}")
            time.sleep(0.05)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], env=self.env,
                       capture_output=True)


# -- Ctrl-X Ctrl-E --------------------------------------------------------------------------------


def editor_script(path: Path, text: str) -> str:
    """An editor that saves what it was given next to it and writes ``text`` in its place."""
    script = path / "editor.sh"
    script.write_text(f"#!/bin/sh\ncp \"$1\" {shlex.quote(str(path / 'given.txt'))}\n"
                      f"printf '%s\\n' {shlex.quote(text)} > \"$1\"\n")
    script.chmod(0o755)
    return str(script)


def test_ctrl_x_ctrl_e_edits_the_message_in_the_editor(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISUAL", editor_script(tmp_path, "written in the editor\nline two"))

    async def go() -> None:
        s = await Session().start()
        s.pipe.send_text("typed so far\x18\x05")  # Ctrl-X Ctrl-E
        buffer = s.app.session.default_buffer
        await s.until(lambda: buffer.text == "written in the editor\nline two")
        assert (tmp_path / "given.txt").read_text() == "typed so far"
        assert buffer.cursor_position == len(buffer.text)
        assert server.requests == []  # back in the prompt, not sent
        await s.line(" and more")
        assert asked(server) == ["written in the editor\nline two and more"]
        await s.quit()

    run(go)


@pytest.mark.slow
def test_ctrl_x_ctrl_e_in_a_terminal(api_env: dict[str, str], server: FakeOpenAI,
                                     tmp_path: Path) -> None:
    env = {**api_env, "VISUAL": editor_script(tmp_path, "from the editor")}
    for start in terminals(env, tmp_path, installed()):
        term = start()
        term.send("draft\x18\x05")
        term.wait(lambda t=term: prompt_lines(t)[:1] == ["❯ from the editor"], "the edited text")
        assert (tmp_path / "given.txt").read_text() == "draft"
        term.line("")
        assert asked(server) == ["from the editor"]
        assert term.quit() == 0


def test_ctrl_x_ctrl_e_with_a_missing_editor_is_one_line_and_keeps_the_text(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISUAL", str(tmp_path / "no-such-editor"))

    async def go() -> None:
        s = await Session().start()
        s.pipe.send_text("keep me\x18\x05")
        await s.until(lambda: "cannot run the editor" in s.text)
        assert "internal error" not in s.text
        assert s.app.session.default_buffer.text == "keep me"
        await s.line("")
        assert asked(server) == ["keep me"]
        await s.quit()

    run(go)


# -- vi keys -------------------------------------------------------------------------------------


def test_vi_mode_keys_and_the_mode_in_the_bar(api_env: dict[str, str], server: FakeOpenAI,
                                              isolated: dict[str, str]) -> None:
    write_config(isolated, 'editing_mode = "vi"\n')

    async def go() -> None:
        s = await Session().start()
        buffer = s.app.session.default_buffer

        bar = s.bar
        assert bar() == " INSERT · default · gpt-4o-mini · 0 messages · 0% · 0/128k · $0.00 "
        s.pipe.send_text("hello big world\x1b")
        await s.until(lambda: bar().startswith(" NORMAL · "))
        s.pipe.send_text("b")  # back a word; then delete it, then insert before the cursor
        await s.until(lambda: buffer.cursor_position == len("hello big "))
        s.pipe.send_text("dw")
        await s.until(lambda: buffer.text == "hello big ")
        s.pipe.send_text("v")
        await s.until(lambda: bar().startswith(" VISUAL · "))
        s.pipe.send_text("\x1bA")  # Escape, then append at the end: insert mode again
        await s.until(lambda: bar().startswith(" INSERT · "))
        await s.line("planet")
        assert asked(server) == ["hello big planet"]
        await s.quit()

    run(go)


@pytest.mark.slow
def test_vi_mode_in_a_terminal_shows_the_mode_in_the_bar(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, 'editing_mode = "vi"\n')
    term = chatrepl()
    assert term.toolbar() == "INSERT · default · gpt-4o-mini · 0 messages"
    term.send("say hi\x1b")
    term.wait(lambda: term.toolbar().startswith("NORMAL · "), "NORMAL in the bar")
    term.send("0ceshout\x1b")  # change the first word
    term.wait(lambda: prompt_lines(term)[:1] == ["❯ shout hi"], "the changed word")
    term.send("\r")
    term.wait(lambda: len(server.requests) == 1, "the message")
    term.wait_prompt()
    assert term.toolbar() == "INSERT · default · gpt-4o-mini · 2 messages"
    assert asked(server) == ["shout hi"]
    assert term.quit() == 0


def test_editing_mode_is_emacs_or_vi(isolated: dict[str, str]) -> None:
    from repl import config as config_mod
    from repl.errors import ConfigError

    write_config(isolated, 'editing_mode = "vim"\n')
    with pytest.raises(ConfigError, match="editing_mode must be emacs or vi, not 'vim'"):
        config_mod.load()

"""The installed ``chatrepl`` command in a real pseudo-terminal, as a user runs it.

Each test spawns the console script in a pty (pexpect) against the fake OpenAI server running in
this process. Everything the program writes is also fed to a terminal emulator (pyte), which
answers prompt_toolkit's cursor-position requests the way a real terminal does and lets the tests
look at the screen the user would see (see pty_session.py). Waits are for events, with a 10 s
ceiling; no fixed sleeps.
"""

from __future__ import annotations

import io
import json
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyte
import pytest
from fakeserver import FakeOpenAI, Reply
from pty_session import (
    COLS,
    LONG,
    ROWS,
    TIMEOUT,
    Terminal,
    assert_partial,
    hang_up,
    stored,
    streaming,
    terminals,
)
from rich.console import Console
from rich.markdown import Markdown

from repl.store.sqlite import SQLiteStore

CHATREPL = Path(sys.executable).with_name("chatrepl")

pytestmark = pytest.mark.skipif(not CHATREPL.exists(), reason=f"{CHATREPL} is not installed")


@pytest.fixture
def chatrepl(api_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    """Start chatrepl in a pty (cwd: tmp_path), and wait for its first prompt unless told not to."""
    yield from terminals(api_env, tmp_path, [str(CHATREPL)])


def trimmed(lines: list[str]) -> list[str]:
    """``lines`` without trailing spaces and trailing blank lines."""
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def thread_names(data_dir: Path) -> list[str]:
    store = SQLiteStore(data_dir / "chatrepl.db")
    try:
        return [info.name for info in store.list_threads()]
    finally:
        store.close()


# -- talking ------------------------------------------------------------------------------------


def test_talk_quit_and_resume_with_history(chatrepl: Callable[..., Terminal],
                                           server: FakeOpenAI) -> None:
    term = chatrepl()
    assert "new thread 'default' · model gpt-4o-mini" in term.text
    assert term.toolbar() == "default · gpt-4o-mini · 0 messages"
    term.line("hello there")
    assert "echo: hello there" in term.text
    assert term.toolbar() == "default · gpt-4o-mini · 2 messages"
    assert term.quit() == 0

    term = chatrepl()
    assert "thread 'default' · 2 messages · model gpt-4o-mini" in term.text
    lines = term.lines()
    # the last turn is shown again: the question, then the answer
    asked = lines.index("❯ hello there")
    assert "echo: hello there" in lines[asked + 1:]
    term.line("and again")
    assert "echo: and again" in term.text
    assert server.sent_messages() == [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "echo: hello there"},
        {"role": "user", "content": "and again"},
    ]
    assert term.quit() == 0


def test_switch_and_list_threads(chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    term = chatrepl()
    term.line("first thread talk")
    term.line("/switch other")
    assert "new thread 'other' · model gpt-4o-mini" in term.since_mark
    assert term.toolbar() == "other · gpt-4o-mini · 0 messages"
    term.line("in other")
    assert server.sent_messages() == [{"role": "user", "content": "in other"}]

    term.line("/switch default")
    shown = term.lines()
    assert "thread 'default' · 2 messages · model gpt-4o-mini" in shown
    assert shown.index("❯ first thread talk") < shown.index("echo: first thread talk")
    assert term.toolbar() == "default · gpt-4o-mini · 2 messages"

    term.line("/list")
    listing = term.lines()
    shown_at = len(listing) - 1 - listing[::-1].index("❯ /list")
    rows = {line[2:].split()[0]: line for line in listing[shown_at:]
            if line[2:].startswith(("default ", "other "))}
    assert set(rows) == {"default", "other"}
    assert rows["default"].startswith("* default")  # the current thread is marked
    assert rows["other"].startswith("  other")
    assert re.search(r"default\s+2\s+\d\d:\d\d\s+gpt-4o-mini", rows["default"])
    assert term.quit() == 0


def test_export_markdown_and_json(chatrepl: Callable[..., Terminal], tmp_path: Path) -> None:
    term = chatrepl("-t", "notes")
    term.line("remember the milk")
    term.line("/export")
    assert "exported 2 messages to notes.md" in term.text
    md = tmp_path / "notes.md"
    assert stat.S_IMODE(md.stat().st_mode) == 0o600
    text = md.read_text()
    assert text.startswith("---\nthread: \"notes\"\n")
    assert "\n# notes\n" in text
    assert text.index("## User\n\nremember the milk\n") < text.index(
        "## Assistant (gpt-4o-mini)\n\necho: remember the milk\n")

    term.line("/export x.json")
    assert "exported 2 messages to x.json" in term.text
    exported = tmp_path / "x.json"
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert json.loads(exported.read_text()) == [
        {"role": "user", "content": "remember the milk"},
        {"role": "assistant", "content": "echo: remember the milk"},
    ]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["notes.md", "x.json"]
    assert term.quit() == 0


def test_delete_asks_first(chatrepl: Callable[..., Terminal], data_dir: Path) -> None:
    term = chatrepl()
    term.line("/switch other")
    term.line("/switch default")
    term.send("/delete other\r")
    term.wait(lambda: term.text.count("[y/N]") == 1, "the question")
    assert "'other'" in term.lines()[term.screen.cursor.y - ROWS]  # it names the thread
    term.line("n")
    assert "kept" in term.since_mark
    assert sorted(thread_names(data_dir)) == ["default", "other"]
    term.send("/delete other\r")
    term.wait(lambda: term.text.count("[y/N]") == 2, "the question again")
    term.line("y")
    assert thread_names(data_dir) == ["default"]
    term.line("/list")
    listed = [line[2:].split()[0] for line in term.lines() if re.match(r"[* ] \S+ +\d+ ", line)]
    assert listed == ["default"]
    assert term.quit() == 0


# -- keys and signals ---------------------------------------------------------------------------


def test_ctrl_c_stops_the_answer_keeps_it_and_the_repl_goes_on(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path) -> None:
    term = chatrepl()
    streaming(term, server, "tell me a long story")
    started = time.monotonic()
    term.mark()
    term.child.sendintr()
    term.wait_prompt()
    assert time.monotonic() - started < 2  # the stream is cut at once, not run to its end
    assert "(interrupted)" in term.text
    assert term.toolbar() == "default · gpt-4o-mini · 2 messages"

    term.line("still there?")
    assert "echo: still there?" in term.text
    # the partial answer was part of the history sent with the next question
    sent = server.sent_messages()
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert_partial(sent[1]["content"])
    assert term.quit() == 0

    (q, a, q2, a2) = stored(data_dir, "default")
    assert q == ("user", "tell me a long story", None)
    assert a == ("assistant", sent[1]["content"], "interrupted")
    assert (q2, a2) == (("user", "still there?", None), ("assistant", "echo: still there?", None))


@pytest.mark.parametrize("command", ["/retry", "/edit"])
def test_ctrl_c_during_an_answer_any_command_started_stops_it_not_chatrepl(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path,
        command: str) -> None:
    term = chatrepl()
    term.line("tell me")
    server.queue(Reply(text=LONG, pieces=200, delay=0.02))
    term.send(command + "\r")
    if command == "/edit":  # the prompt comes prefilled: send it as it is
        term.wait_text("edit❯ tell me")
        term.send("\r")
    term.wait_text("word20 ")
    term.mark()
    term.child.sendintr()
    term.wait_prompt()
    assert "(interrupted)" in term.text and term.child.isalive()
    (q, a) = stored(data_dir, "default")
    assert q == ("user", "tell me", None)
    assert a[0] == "assistant" and a[2] == "interrupted"
    assert_partial(a[1])
    term.line("still there?")
    assert "echo: still there?" in term.text
    assert term.quit() == 0


def test_ctrl_c_during_compact_changes_nothing_and_the_repl_goes_on(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path) -> None:
    term = chatrepl()
    for word in ("one", "two", "three"):
        term.line(word)
    before = stored(data_dir, "default")
    server.queue(Reply(text="a summary", stall=3))
    term.send("/compact 1\r")
    term.wait(lambda: len(server.requests) == 4, "the summary request")
    term.mark()
    term.child.sendintr()
    term.wait_prompt()
    assert "nothing was compacted" in term.text and term.child.isalive()
    assert stored(data_dir, "default") == before  # no summary
    term.line("four")
    assert server.sent_messages()[0]["content"] == "one"  # all of it is still sent
    assert term.quit() == 0


def test_lines_typed_during_an_answer_run_after_it_one_by_one(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    term = chatrepl()
    server.queue(Reply(text="slow answer " * 30, pieces=60, delay=0.03))
    term.send("first\r")
    term.wait_text("slow answer slow")
    term.send("two\r")  # typed while it streams, quickly, each line ended by Enter
    term.send("/retry\r")
    term.wait(lambda: len(server.requests) == 3, "the question typed ahead, then the retry")
    term.wait_prompt()
    asked = [m["content"] for m in server.sent_messages(1) if m["role"] == "user"]
    assert asked == ["first", "two"]  # "two" alone, not "two\n/retry"
    assert server.sent_messages(2) == server.sent_messages(1)  # /retry asked again for "two"
    assert term.quit() == 0


def test_an_empty_thread_name_is_an_error_not_the_last_thread(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    term = chatrepl("-t", "", prompt=False)
    assert term.exit_status() == 1
    assert "chatrepl: a thread name cannot be empty" in term.text


def test_ctrl_z_suspends_like_a_shell_and_fg_resumes(api_env: dict[str, str], tmp_path: Path,
                                                     server: FakeOpenAI) -> None:
    """In a job-control shell (an interactive bash), Ctrl-Z at the prompt stops chatrepl and fg
    brings it back with the line as it was; no \\x1a gets into the message."""
    env = {**api_env, "PS1": "$ "}
    started = terminals(env, tmp_path, ["bash", "--norc", "--noprofile", "-i"])
    start = next(started)
    term = start(prompt=False)
    term.wait_text("$")
    term.send(f"{CHATREPL} -t z\r")
    term.wait_prompt()
    term.send("ab")
    term.wait_text("❯ ab")
    term.send("\x1a")
    term.wait_text("Stopped")
    term.send("fg\r")
    term.wait_text("❯ ab")
    term.line("c")
    assert server.sent_messages() == [{"role": "user", "content": "abc"}]
    term.send("\x04")
    term.wait_text("$ ")
    term.send("exit\r")
    next(started, None)  # closes what is left


def test_ctrl_c_at_the_prompt_clears_the_line_and_does_not_exit(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    term = chatrepl()
    term.send("\x03")  # at the empty prompt
    term.wait_prompt()
    term.send("half a thought")
    term.wait_text("❯ half a thought")
    term.send("\x03")  # a typed line is thrown away
    term.wait_prompt()
    term.line("something else")
    assert server.sent_messages() == [{"role": "user", "content": "something else"}]
    assert term.child.isalive()
    assert term.quit() == 0


def test_ctrl_d_exits_with_status_0(chatrepl: Callable[..., Terminal]) -> None:
    term = chatrepl()
    assert term.quit() == 0
    assert "Traceback" not in term.output


def test_sigterm_while_streaming_keeps_the_partial_answer_and_exits(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path) -> None:
    term = chatrepl()
    streaming(term, server, "go on and on")
    started = time.monotonic()
    term.child.kill(signal.SIGTERM)
    status = term.wait_exit()
    assert time.monotonic() - started < 2
    assert status == 0
    assert "Traceback" not in term.output
    (q, a) = stored(data_dir, "default")
    assert q == ("user", "go on and on", None)
    assert a[0] == "assistant" and a[2] == "interrupted"
    assert_partial(a[1])


def test_terminal_closed_while_streaming_keeps_the_partial_answer(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path) -> None:
    term = chatrepl()
    streaming(term, server, "until the window closes")
    hang_up(term)
    assert term.child.signalstatus is None, f"killed by signal {term.child.signalstatus}"
    (q, a) = stored(data_dir, "default")
    assert q == ("user", "until the window closes", None)
    assert a[0] == "assistant" and a[2] == "interrupted"
    assert_partial(a[1])


@pytest.mark.parametrize("when", ["at the prompt", "while streaming"])
def test_a_closed_terminal_is_a_normal_exit_not_an_internal_error(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path,
        when: str) -> None:
    """Closing the window is how many people leave; app.py treats SIGHUP like SIGTERM (leave,
    status 0), but the writes to the gone terminal then fail with EIO."""
    term = chatrepl()
    if when == "while streaming":
        streaming(term, server, "until the window closes")
    else:
        term.line("hello")
    hang_up(term)
    log = data_dir / "chatrepl.log"
    assert not log.exists() or "unexpected error" not in log.read_text(), \
        "the closed terminal was logged as a bug: " + log.read_text().splitlines()[-1]
    assert term.child.exitstatus == 0


def test_an_answer_taller_than_the_terminal_lands_in_scrollback_once(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI) -> None:
    text = "\n\n".join(f"para {i:02d} " + "lorem ipsum " * (i % 11) for i in range(60))
    text += "\n\n```python\n" + "\n".join(f"line_{i} = {i}" for i in range(40)) + "\n```\n"
    server.queue(Reply(text=text, pieces=300, delay=0.002))
    term = chatrepl()
    term.line("a tall answer")
    lines = term.lines()
    start = lines.index("❯ a tall answer") + 1
    end = max(i for i, line in enumerate(lines) if line.startswith("❯"))
    shown = lines[start:end]
    # exactly what a one-go render of the whole answer looks like, nothing lost or repeated
    out = io.StringIO()
    Console(file=out, width=COLS, color_system=None).print(Markdown(text))
    assert trimmed(shown) == trimmed(out.getvalue().splitlines())
    assert term.quit() == 0


def test_only_the_marks_are_coloured_not_the_whole_line(
        chatrepl: Callable[..., Terminal]) -> None:
    """A replayed question shows a bold cyan '❯ ' and then the text as typed; an error line a bold
    red 'error: ' and then the message (ui.py builds them as Text(mark, style) + Text(text))."""
    term = chatrepl()
    term.line("hello there")
    assert term.quit() == 0
    term = chatrepl()  # the last turn is replayed
    term.line("/nosuchcommand")

    def row(prefix: str) -> list[pyte.screens.Char]:
        y = next(y for y, line in enumerate(term.screen.display) if line.startswith(prefix))
        return [term.screen.buffer[y][x] for x in range(COLS)]

    question = row("❯ hello there")
    assert (question[0].fg, question[0].bold) == ("cyan", True)
    assert [(c.fg, c.bold) for c in question[2:13]] == [("default", False)] * 11, \
        "the whole replayed question is bold cyan, not just the ❯ mark"
    error = row("error: unknown command /nosuchcommand")
    assert (error[0].fg, error[0].bold) == ("red", True)
    assert (error[7].fg, error[7].bold) == ("default", False), \
        "the whole error line is bold red, not just 'error: '"
    assert term.quit() == 0


# -- untrusted model output ---------------------------------------------------------------------

HOSTILE = "Copy this: \x1b]52;c;aGVsbG8=\x07 and \x1b[31mred\x1b[0m and a bell\x07 end."


def test_escape_sequences_from_the_model_never_reach_the_terminal(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path) -> None:
    server.queue(Reply(text=HOSTILE, pieces=6))
    term = chatrepl()
    term.line("paste something")
    out = term.since_mark
    assert "\x1b]52" not in out  # no clipboard write (OSC 52)
    assert "\x1b[31m" not in out and "\x07" not in out
    # shown, visibly, instead
    assert "Copy this: ␛]52;c;aGVsbG8=␇ and ␛[31mred␛[0m and a bell␇ end." in term.text
    assert term.quit() == 0
    assert "\x1b]52" not in term.output
    assert stored(data_dir, "default")[1] == ("assistant", HOSTILE, None)

    # shown again, as history, on the next start: still defused
    term = chatrepl()
    assert "␛]52;c;aGVsbG8=␇" in term.text
    assert "\x1b]52" not in term.output
    assert term.quit() == 0


def test_one_shot_in_a_terminal_renders_markdown_safely(
        chatrepl: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path) -> None:
    server.queue(Reply(text="**bold** and `code`: " + HOSTILE, pieces=5))
    term = chatrepl("-t", "x", "hi", prompt=False)
    assert term.wait_exit() == 0
    assert "\x1b]52" not in term.output and "\x07" not in term.output
    y = next(y for y, line in enumerate(term.screen.display)
             if line.startswith("bold and code: Copy this: ␛]52;c;aGVsbG8=␇ and ␛[31mred␛[0m"))
    assert term.screen.buffer[y][0].bold  # markdown rendered: **bold** is bold, no asterisks
    assert stored(data_dir, "x") == [("user", "hi", None), ("assistant", "**bold** and `code`: "
                                     + HOSTILE, None)]


def one_shot(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CHATREPL), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=TIMEOUT)


def test_one_shot_into_a_pipe_is_plain_text(api_env: dict[str, str], tmp_path: Path,
                                             server: FakeOpenAI, data_dir: Path) -> None:
    env = {**api_env, "TERM": "xterm-256color"}
    done = one_shot(env, tmp_path, "-t", "x", "hi")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"echo: hi\n", b"")

    server.queue(Reply(text=HOSTILE, pieces=5))
    done = one_shot(env, tmp_path, "-t", "x", "again")
    assert done.returncode == 0
    assert b"\x1b" not in done.stdout and b"\x07" not in done.stdout
    assert done.stdout.decode() == (
        "Copy this: ␛]52;c;aGVsbG8=␇ and ␛[31mred␛[0m and a bell␇ end.\n")
    assert server.sent_messages()[:2] == [{"role": "user", "content": "hi"},
                                          {"role": "assistant", "content": "echo: hi"}]
    assert stored(data_dir, "x")[-1] == ("assistant", HOSTILE, None)


def test_one_shot_stdout_is_the_answer_only_notes_go_to_stderr(
        api_env: dict[str, str], tmp_path: Path, server: FakeOpenAI) -> None:
    from fakeserver import Failure

    server.queue(Reply(text="cut sho", finish="length"))
    done = one_shot(api_env, tmp_path, "-t", "f", "hi")
    assert (done.returncode, done.stdout) == (0, b"cut sho\n")
    assert b"(truncated: the model reached its output limit)" in done.stderr

    too_long = Failure(400, {"error": {"message": "maximum context length is 8192 tokens. "
                                       "However, your messages resulted in 9000 tokens",
                                       "code": "context_length_exceeded"}})
    server.queue(too_long, Reply(text="fits now"))
    done = one_shot(api_env, tmp_path, "-t", "f", "again")
    assert (done.returncode, done.stdout) == (0, b"fits now\n")
    assert b"sending it again without the" in done.stderr

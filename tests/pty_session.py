"""chatrepl in a real pseudo-terminal, as a user runs it: shared by test_terminal.py and
test_faults.py.

``Terminal`` spawns chatrepl in a pty (pexpect) and feeds everything it writes to a terminal
emulator (pyte), which answers prompt_toolkit's cursor-position requests the way a real terminal
does and lets the tests look at the screen the user would see. Waits are for events, with a 10 s
ceiling; no fixed sleeps.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pexpect
import pyte
from fakeserver import FakeOpenAI, Reply

from repl.store.sqlite import SQLiteStore

ROWS, COLS = 30, 100
TIMEOUT = 30.0  # a ceiling for a failing test only: a loaded CI machine can be slow to start one
TOOLBAR = re.compile(r" · (\d+) messages")
METER = re.compile(r" · (\?|\d+)% · \S+/\S+( · \S+)?$")  # at the bar's end (repl/meter.py)
# prompt_toolkit turns bracketed paste on each time it starts reading a line
PROMPT_START = "\x1b[?2004h"
LONG = " ".join(f"word{i}" for i in range(400))  # streamed slowly, to be cut short
MODULE = [sys.executable, "-m", "repl"]  # chatrepl without needing the console script
# variables that would make rich or prompt_toolkit ignore the pty's own size and abilities
_NOT_PASSED = ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")

Row = tuple[int, str, str, str | None, float]  # id, role, content, status, created_at


class Terminal:
    """chatrepl running in a pty of ROWS x COLS, its output kept raw and on an emulated screen.

    ``command`` is how to start it (``python -m repl`` unless told otherwise); ``args`` follow it.
    """

    def __init__(self, env: dict[str, str], cwd: Path, args: list[str],
                 command: Sequence[str] = MODULE) -> None:
        env = {k: v for k, v in env.items() if k not in _NOT_PASSED}
        env["TERM"] = "xterm-256color"
        self.screen = pyte.HistoryScreen(COLS, ROWS, history=10_000)
        self._stream = pyte.Stream(self.screen)
        self._chunks: list[str] = []
        self._mark = 0
        self.child = pexpect.spawn(command[0], [*command[1:], *args], env=env, cwd=str(cwd),
                                   dimensions=(ROWS, COLS), encoding="utf-8",
                                   codec_errors="replace", timeout=TIMEOUT)
        # pyte answers device status requests (ESC[6n) through this, like a real terminal
        self.screen.write_process_input = self._answer
        self.child.logfile_read = self

    def _answer(self, data: str) -> None:
        # not to a program that has ended, or a terminal that was closed (see hang_up)
        if self.child.isalive():
            with contextlib.suppress(OSError, ValueError):
                self.child.send(data)

    # pexpect logs everything it reads here
    def write(self, data: str) -> None:
        self._chunks.append(data)
        self._stream.feed(data)

    def flush(self) -> None:
        pass

    # -- what the program wrote -----------------------------------------------------------------

    @property
    def output(self) -> str:
        """Every character the program wrote to the terminal, escape sequences included."""
        return "".join(self._chunks)

    @property
    def since_mark(self) -> str:
        return self.output[self._mark:]

    def lines(self) -> list[str]:
        """The scrollback and the screen, as text."""
        history = ["".join(line[x].data for x in range(COLS)).rstrip()
                   for line in self.screen.history.top]
        return history + [line.rstrip() for line in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(self.lines())

    def mark(self) -> None:
        self._mark = len(self.output)

    # -- waiting --------------------------------------------------------------------------------

    def wait(self, check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{self.text}")
            try:
                self.child.read_nonblocking(65536, timeout=min(left, 0.1))
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                if check():
                    return
                raise AssertionError(f"chatrepl exited while waiting for {what}; "
                                     f"screen:\n{self.text}") from None

    def pump(self, seconds: float) -> None:
        """Read (and show) what the program writes for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.child.read_nonblocking(65536, timeout=left)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                return

    def wait_text(self, text: str, timeout: float = TIMEOUT) -> None:
        """Wait until ``text`` is on the screen (or in the scrollback)."""
        self.wait(lambda: text in self.text, repr(text), timeout)

    def at_prompt(self) -> bool:
        """A fresh prompt since the mark: cursor after '❯ ' on an empty line, toolbar drawn."""
        if PROMPT_START not in self.since_mark:
            return False
        row = self.screen.display[self.screen.cursor.y].rstrip()
        return (row == "❯" and self.screen.cursor.x == 2
                and bool(TOOLBAR.search(self.screen.display[-1])))

    def wait_prompt(self) -> None:
        self.wait(self.at_prompt, "the prompt")

    def toolbar(self) -> str:
        """The bottom bar without the meter at its end (``bar`` is all of it)."""
        return METER.sub("", self.bar())

    def bar(self) -> str:
        return self.screen.display[-1].strip()

    # -- typing ---------------------------------------------------------------------------------

    def send(self, keys: str) -> None:
        self.mark()
        self.child.send(keys)

    def line(self, text: str) -> None:
        """Type ``text`` and Enter, and wait for the next prompt."""
        self.send(text + "\r")
        self.wait_prompt()

    # -- the end --------------------------------------------------------------------------------

    def wait_gone(self) -> None:
        """Wait for the process to end, reading all it still writes (up to the end of its output,
        unless the terminal was closed)."""
        deadline = time.monotonic() + TIMEOUT
        reading = True
        while reading or self.child.isalive():
            assert time.monotonic() < deadline, "chatrepl did not end"
            if not reading:
                time.sleep(0.01)
                continue
            try:
                self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                pass
            except (pexpect.EOF, OSError, ValueError):  # the end, or the pty closed (hang_up)
                reading = False

    def exit_status(self) -> int:
        """Wait for the end; the exit status (failing if a signal killed it)."""
        self.wait_gone()
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}"
        assert self.child.exitstatus is not None
        return int(self.child.exitstatus)

    wait_exit = exit_status

    def quit(self) -> int:
        """Ctrl-D; the exit status."""
        self.send("\x04")
        return self.exit_status()


def terminals(env: dict[str, str], cwd: Path,
              command: Sequence[str] = MODULE) -> Iterator[Callable[..., Terminal]]:
    """The body of a fixture (``yield from terminals(...)``): a function that starts chatrepl in a
    pty (cwd: ``cwd``) and waits for its first prompt unless told not to (``prompt=False``).
    Whatever still runs at the end of the test is closed."""
    started: list[Terminal] = []

    def start(*args: str, prompt: bool = True) -> Terminal:
        term = Terminal(env, cwd, list(args), command)
        started.append(term)
        if prompt:
            term.wait_prompt()
        return term

    yield start
    for term in started:
        if term.child.isalive():
            term.child.close(force=True)


def hang_up(term: Terminal) -> None:
    """Close the master side of the pty, as when the terminal window is closed (the kernel sends
    SIGHUP to chatrepl, the session leader, and its writes then fail with EIO); wait for chatrepl
    to end."""
    term.child.ptyproc.fileobj.close()
    deadline = time.monotonic() + TIMEOUT
    while term.child.isalive():
        assert time.monotonic() < deadline, "chatrepl still runs after its terminal closed"
        time.sleep(0.02)


def streaming(term: Terminal, server: FakeOpenAI, text: str) -> None:
    """Send ``text`` while a long, slow answer is queued; return once part of it is on screen."""
    server.queue(Reply(text=LONG, pieces=200, delay=0.02))
    term.send(text + "\r")
    term.wait_text("word20 ")


def assert_partial(answer: str) -> None:
    """``answer`` is a real, cut-short beginning of LONG."""
    assert answer.startswith("word0 word1 ") and LONG.startswith(answer), answer[:200]
    assert len(answer) < len(LONG)


def rows(data_dir: Path, thread: str) -> list[Row]:
    """What the store holds for ``thread`` (nothing if the thread does not exist yet); opening the
    store must work, and must not have needed a repair."""
    store = SQLiteStore(data_dir / "chatrepl.db")
    try:
        assert store.recovered is None, f"the store needed a repair: {store.recovered}"
        if store.get(thread) is None:
            return []
        return [(m.id or 0, m.role, m.content, m.status, m.created_at)
                for m in store.messages(thread)]
    finally:
        store.close()


def stored(data_dir: Path, thread: str) -> list[tuple[str, str, str | None]]:
    """(role, content, status) of each message of ``thread``, as ``rows`` finds them."""
    return [(role, content, status) for _, role, content, status, _ in rows(data_dir, thread)]

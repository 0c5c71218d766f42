"""Time from launching chatrepl to its first prompt, against two floors; then from Enter to the
request reaching a local fake server, for the first message of a session and for later ones.

Run: python benchmarks/startup.py [runs]. Each command runs in a pseudo-terminal with fresh,
private data dirs; the time is the median of the runs until the prompt has been drawn, or until
the server has the request (the first message is typed after the prompt has been idle 3 s).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakeserver import FakeOpenAI
from pty_session import Terminal

PY = sys.executable
CHATREPL = str(Path(PY).with_name("chatrepl"))
IDLE = 3.0  # seconds the prompt sits idle before the first message is typed
LATER = 4  # messages after the first, per run


def timed_exit(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_prompt(env: dict[str, str], runs: int, args: list[str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        child = pexpect.spawn(CHATREPL, args, env=env, dimensions=(40, 100), encoding="utf-8")
        child.delaybeforesend = None
        # prompt_toolkit asks where the cursor is (CPR) before drawing; answer as a terminal would
        child.expect("\x1b\\[6n", timeout=20)
        child.send("\x1b[1;1R")
        child.expect("messages ", timeout=20)  # the bottom toolbar: drawn with the prompt
        times.append(time.perf_counter() - start)
        child.sendeof()
        child.expect(pexpect.EOF, timeout=20)
    return statistics.median(times)


def seeded_env(tmp: str, messages: int) -> dict[str, str]:
    env = dict(os.environ, XDG_DATA_HOME=f"{tmp}/data", XDG_CONFIG_HOME=f"{tmp}/config",
               HOME=tmp, OPENAI_API_KEY="sk-unused", TERM="xterm-256color")
    if messages:
        code = (
            "from repl.store.sqlite import SQLiteStore\n"
            "from repl.thread import Message\n"
            "import sys\n"
            f"s = SQLiteStore(__import__('pathlib').Path('{tmp}/data/chatrepl/chatrepl.db'))\n"
            "s.create('long')\n"
            f"for i in range({messages} // 2):\n"
            "    s.append('long', Message('user', f'question {i}'))\n"
            "    s.append('long', Message('assistant', f'## Answer {i}\\n\\n- a point\\n\\n"
            "```python\\nprint({i})\\n```'))\n"
            "s.set_state('last_thread', 'long')\n"
        )
        subprocess.run([PY, "-c", code], check=True, env=env)
    return env


def first_messages(runs: int) -> tuple[float, float, float]:
    """Medians of (a key typed as the prompt appears -> its echo, Enter -> request at the server
    for the first message of a session, the same for later messages)."""
    server = FakeOpenAI().start()
    echo: list[float] = []
    first: list[float] = []
    later: list[float] = []
    try:
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                env = dict(seeded_env(tmp, 0), OPENAI_BASE_URL=server.url)
                term = Terminal(env, Path(tmp), [], command=[CHATREPL])
                term.wait_prompt()
                echo.append(_echo(term))
                term.pump(IDLE)
                for n in range(1 + LATER):
                    (later if n else first).append(_one_message(term, server, n))
                term.child.sendeof()
                term.child.expect(pexpect.EOF, timeout=20)
    finally:
        server.stop()
    return statistics.median(echo), statistics.median(first), statistics.median(later)


def _echo(term: Terminal) -> float:
    """Seconds from a key to its echo, typed while the client warms up in the background."""
    sent = time.perf_counter()
    term.child.send("x")
    term.wait(lambda: term.screen.display[term.screen.cursor.y].startswith("❯ x"), "the echo")
    seconds = time.perf_counter() - sent
    term.child.send("\x7f")  # rub it out
    return seconds


def _one_message(term: Terminal, server: FakeOpenAI, n: int) -> float:
    seen = len(server.times)
    term.mark()
    sent = time.perf_counter()
    term.child.send(f"message {n}\r")
    term.wait(lambda: len(server.times) > seen, "the request", timeout=20)
    arrived: float = server.times[seen]
    term.wait_prompt()
    return arrived - sent


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    floor = timed_exit([PY, "-c", "import rich, prompt_toolkit"], runs)
    rows = [
        ("python -c pass", timed_exit([PY, "-c", "pass"], runs)),
        ("python -c 'import rich, prompt_toolkit'", floor),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        env = seeded_env(tmp, 0)
        rows.append(("chatrepl, first run (new thread)", timed_prompt(env, runs, [])))
    with tempfile.TemporaryDirectory() as tmp:
        env = seeded_env(tmp, 10_000)
        rows.append(("chatrepl, thread of 10,000 messages", timed_prompt(env, runs, [])))
    print(f"{'command':<42} {'median':>9} {'vs floor':>9}")
    for name, seconds in rows:
        print(f"{name:<42} {seconds * 1000:>7.0f}ms {seconds / floor:>8.2f}x")
    echo, first, later = first_messages(max(3, runs // 3))
    print(f"\n{'in the REPL, against a local server':<42} {'median':>9}")
    print(f"{'a key typed as the prompt appears, to echo':<42} {echo * 1000:>7.0f}ms")
    print(f"{f'Enter to request, first message (idle {IDLE:g} s)':<42} {first * 1000:>7.0f}ms")
    print(f"{'Enter to request, later messages':<42} {later * 1000:>7.0f}ms")


if __name__ == "__main__":
    main()

"""Time from launching chatrepl to its first prompt, against two floors.

Run: python benchmarks/startup.py [runs]. Each command runs in a pseudo-terminal with fresh,
private data dirs; the time is the median of the runs until the prompt has been drawn.
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

PY = sys.executable
CHATREPL = str(Path(PY).with_name("chatrepl"))


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


if __name__ == "__main__":
    main()

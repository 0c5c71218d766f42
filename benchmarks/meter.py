"""The context meter's cost, per backend: measuring a 10,000-message thread for the bar (once a
prompt, and after each change), and what each key typed then costs the bar (the next request
planned again with the text typed so far, formatted). The thread is benchmarks/store.py's (text,
images, tool calls), far over gpt-4o-mini's 128k window, so every key takes the path that leaves
earlier turns out (the yellow bar).

Run: python benchmarks/meter.py [sqlite] [json] [redis]   (default: every backend available;
redis needs CHATREPL_TEST_REDIS or a redis-server on PATH). Milliseconds on this machine.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console
from store import fill, text

from repl import config as config_mod
from repl.app import App
from repl.context import Context, World
from repl.endpoints import Endpoints
from repl.render import UI
from repl.store import ThreadStore
from repl.store.buffered import BufferedStore

KEYS = 400  # characters typed, one at a time, into a question
MESSAGES = 10_000
TARGET_MS = 5.0


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


async def measure(make: Callable[[Path], ThreadStore]
                  ) -> tuple[float, float, float, float, str]:
    """(measuring the thread: median ms, a key: median, p99 and worst ms, the bar at the end)."""
    with tempfile.TemporaryDirectory() as tmp, create_pipe_input() as pipe:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")  # never the user's config
        store = make(Path(tmp))
        fill(store, "long", MESSAGES)
        config = config_mod.load(model="gpt-4o-mini")
        ui = UI(Console(file=io.StringIO(), width=100))
        ctx = Context(world=World(store=BufferedStore(store), ui=ui, config=config,
                                  endpoints=Endpoints(config)))
        ctx.open("long")
        app = App(ctx, input=pipe, output=DummyOutput())
        app._bar = app._bar_parts()
        measured = [timed(app._measure) for _ in range(5)]
        buffer, question, keys = app.session.default_buffer, text(7), []
        for n in range(1, KEYS + 1):
            buffer.text = (question * 3)[:n]  # what typing has put there: the bar reads it
            keys.append(timed(app._shown_bar))
        shown = "".join(fragment for _, fragment, *_ in app._shown_bar())
        store.close()
    keys.sort()
    return (statistics.median(measured), statistics.median(keys), keys[int(len(keys) * 0.99)],
            keys[-1], shown)


def main() -> None:
    from stores import BACKENDS

    chosen = [n for n in BACKENDS if n in (sys.argv[1:] or BACKENDS)]
    if "redis" in chosen and not os.environ.get("CHATREPL_TEST_REDIS"):
        import shutil

        if not shutil.which("redis-server"):
            chosen.remove("redis")
    rows = [(name, *asyncio.run(measure(BACKENDS[name]))) for name in chosen]
    print(f"\n{MESSAGES:,}-message thread, {KEYS} keys typed; "
          f"target under {TARGET_MS:g} ms a key\n")
    print("| store | measure the thread (once a prompt) | a key: median | p99 | worst |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, once, median, p99, worst, _ in rows:
        print(f"| {name} | {once:.1f} ms | {median:.3f} ms | {p99:.3f} ms | {worst:.3f} ms |")
    print(f"\nthe bar after the last key: {rows[-1][-1]!r}" if rows else "")


if __name__ == "__main__":
    main()

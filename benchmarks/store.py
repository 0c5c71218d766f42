"""Store costs, per backend: a save as threads grow, opening a long thread, listing, searching,
attachments (a thread holding 100 MB of images; one image in ten turns).

Run: python benchmarks/store.py [sqlite] [json] [redis]   (default: every backend available;
redis needs CHATREPL_TEST_REDIS or a redis-server on PATH). Medians of repeated runs on this
machine, in milliseconds; each backend gets fresh data in a temporary directory.
"""

from __future__ import annotations

import base64
import io
import os
import random
import statistics
import struct
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from repl import config as config_mod
from repl.context import Context
from repl.endpoints import Endpoints
from repl.render import UI
from repl.services import show_opened
from repl.store import ThreadStore
from repl.store.buffered import BufferedStore
from repl.thread import Message

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


def text(i: int) -> str:
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(30)) + f" number{i}"


def message(i: int) -> Message:
    """A thread's i-th message: mostly text, with list contents and tool calls among them."""
    if i % 20 == 4:
        return Message("user", text(i), created_at=1e9 + i, parts=(
            {"type": "text", "text": text(i)},
            {"type": "image_url", "image_url": {"url": f"https://example.com/{i}.png"}}))
    if i % 20 == 9:
        return Message("assistant", "", created_at=1e9 + i, fields={"tool_calls": [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": "lookup", "arguments": f'{{"q": "{text(i)[:40]}"}}'}}]})
    if i % 20 == 10:
        return Message("tool", text(i), created_at=1e9 + i,
                       fields={"tool_call_id": f"call_{i - 1}"})
    return Message("user" if i % 2 == 0 else "assistant", text(i), created_at=1e9 + i)


def fill(store: ThreadStore, name: str, count: int) -> None:
    store.create(name)
    batch = [message(i) for i in range(count)]
    for start in range(0, count, 5000):
        store.append_many(name, batch[start:start + 5000])


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def context(store: ThreadStore) -> Context:
    ui = UI(Console(file=io.StringIO(), force_terminal=True, width=100))
    config = config_mod.load()
    return Context(store=BufferedStore(store), ui=ui, config=config, endpoints=Endpoints(config))


def measure(name: str, make: Callable[[Path], ThreadStore]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = make(Path(tmp))
        sizes = (10, 1_000, 10_000)
        for size in sizes:
            fill(store, f"t{size}", size)
        times: dict[int, list[float]] = {size: [] for size in sizes}
        for i in range(30):  # the sizes in turn, so a busy moment of the machine hits them all
            for size in sizes:
                start = time.perf_counter()
                store.append(f"t{size}", Message("user", text(i)))
                times[size].append(time.perf_counter() - start)
        save = {size: statistics.median(t) * 1000 for size, t in times.items()}
        for size in (10, 1_000, 10_000):
            ratio = save[size] / save[10]
            rows.append((f"save a turn, thread of {size:,}",
                         f"{save[size]:.2f} ms ({ratio:.1f}x the 10-message save)"))
        ctx = context(store)
        rows.append(("open a 10,000-message thread, show its tail",
                     f"{median_ms(lambda: show_opened(ctx, ctx.open('t10000')), 10):.1f} ms"))
        for n in range(1_000 - 3):
            store.create(f"bulk-{n:04d}")
        rows.append(("--list with 1,000 threads (store + table)",
                     f"{median_ms(lambda: ctx.ui.threads(store.list_threads()), 10):.1f} ms"))
        if name == "sqlite":
            fill(store, "big", 100_000 - 11_010 - 90)
            total = sum(info.message_count for info in store.list_threads())
            rows.append((f"/search over {total:,} messages",
                         f"{median_ms(lambda: store.search('foxtrot number4242'), 10):.1f} ms"))
        else:
            total = sum(info.message_count for info in store.list_threads())
            rows.append((f"/search over {total:,} messages",
                         f"{median_ms(lambda: store.search('foxtrot number4242'), 3):.1f} ms"))
        store.close()
    return rows


def image(seed: int, size: int = 1 << 20) -> Message:
    """A user turn with a ``size``-byte PNG (incompressible noise after its header)."""
    raw = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 1024, 768)
    raw += random.Random(seed).randbytes(size - len(raw))
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    return Message("user", f"look {seed}", parts=({"type": "text", "text": f"look {seed}"},
                                                  {"type": "image_url", "image_url": {"url": url}}))


def attachments(name: str, make: Callable[[Path], ThreadStore]) -> list[tuple[str, str]]:
    """100 MB of images in a thread's history: opening it and showing its tail (and how many
    attachment bytes that read); the same 1 MB image in ten turns: how much the store grows."""
    from stores import store_size

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = make(Path(tmp))
        store.create("pics")
        for i in range(100):
            store.append_many("pics", [image(i), Message("assistant", text(i))])
        read: list[str] = []
        real = store._blob  # type: ignore[attr-defined]

        def counted(sha: str) -> bytes:
            read.append(sha)
            return bytes(real(sha))

        store._blob = counted  # type: ignore[attr-defined]
        ctx = context(store)
        took = median_ms(lambda: show_opened(ctx, ctx.open("pics")), 10)
        rows.append(("open a thread holding 100 MB of images, show its tail",
                     f"{took:.1f} ms ({len(read)} attachments read)"))
        store.close()
    with tempfile.TemporaryDirectory() as tmp:
        store = make(Path(tmp))
        store.create("same")
        store.close()
        before = store_size(name, Path(tmp))
        store = make(Path(tmp))
        one = image(7)
        for i in range(10):
            store.append("same", replace(one, uid=f"u{i}"))
        store.close()
        grown = (store_size(name, Path(tmp)) - before) / (1 << 20)
        rows.append(("the same 1 MB image in ten turns: the store grows by", f"{grown:.2f} MB"))
    return rows


def startup_memory(make: Callable[[Path], ThreadStore], threads: int) -> float:
    """Peak KiB to open the store and a thread and show its tail, with ``threads`` stored."""
    with tempfile.TemporaryDirectory() as tmp:
        store = make(Path(tmp))
        for n in range(threads):
            store.create(f"t{n}")
        fill(store, "main", 200)
        store.close()
        tracemalloc.start()
        store = make(Path(tmp))
        ctx = context(store)
        show_opened(ctx, ctx.open("main"))
        peak = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
        store.close()
    return peak


def main() -> None:
    from stores import BACKENDS

    chosen = [n for n in BACKENDS if n in (sys.argv[1:] or BACKENDS)]
    if "redis" in chosen and not os.environ.get("CHATREPL_TEST_REDIS"):
        import shutil

        if not shutil.which("redis-server"):
            chosen.remove("redis")
    for name in chosen:
        startup_memory(BACKENDS[name], 1)  # warm up: imports and caches are not the store's
        print(f"\n{name}")
        for label, value in [*measure(name, BACKENDS[name]), *attachments(name, BACKENDS[name])]:
            print(f"  {label:<46} {value}")
        small, large = (startup_memory(BACKENDS[name], n) for n in (10, 1_000))
        print(f"  {'peak memory to open, 10 vs 1,000 threads':<46} {small:,.0f} KiB vs "
              f"{large:,.0f} KiB")


if __name__ == "__main__":
    main()

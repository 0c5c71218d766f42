"""Recovering a damaged SQLite store: how long the open that replaces it takes, and how much
comes back, for stores of about 100 KB and 100 MB (text turns, and 1 MB images in the large one)
under each damage.

Run: python benchmarks/recovery.py [--quick]   (--quick: the small stores only). The time is the
whole open (the check, the quarantine, the copy, reading the file, writing the new store and its
full-text index), wall and CPU, beside the CPU of one pass over the damaged file's pages alone
(store/sqlfile.py, shapes.py); medians of 3 runs for the small stores, one run for the large.
"""

from __future__ import annotations

import base64
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from repl.store import migrations, recover, shapes
from repl.store.sqlite import SQLiteStore
from repl.thread import Message

PAGE = 4096
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


def turn(i: int) -> Message:
    words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(i % 300))
    return Message("user" if i % 2 == 0 else "assistant", f"turn {i} {words}",
                   created_at=1e9 + i)


def picture(seed: int, size: int = 1 << 20) -> Message:
    raw = b"\x89PNG\r\n\x1a\n" + random.Random(seed).randbytes(size - 8)
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    return Message("user", f"look {seed}", parts=({"type": "text", "text": f"look {seed}"},
                                                  {"type": "image_url", "image_url": {"url": url}}))


def build(path: Path, size: int) -> int:
    """A store of about ``size`` bytes, a tenth of it in images past 1 MB; its message count."""
    store = SQLiteStore(path)
    count = thread = 0
    while stored(path) < size:
        store.create(f"t{thread}")
        batch = [turn(count + i) for i in range(max(size // 20_000, 10))]
        if size >= 10 << 20:
            batch[0] = picture(thread)
        store.append_many(f"t{thread}", batch)
        count, thread = count + len(batch), thread + 1
    store.close()
    return count


def the_issue_s(path: Path) -> int:
    """The store of issue 23: one thread of three messages, 80 KB (its schema's pages)."""
    store = SQLiteStore(path)
    store.create("t")
    for i in range(3):
        store.append("t", Message("user", f"hello {i}"))
    store.close()
    return 3


def stored(path: Path) -> int:
    """The database's size, its WAL's pages (a session's writes until a checkpoint) counted."""
    db = sqlite3.connect(path)
    (count,), = db.execute("PRAGMA page_count").fetchall()
    db.close()
    return int(count) * PAGE


def pages(path: Path, kind: str, names: list[str]) -> list[int]:
    db = sqlite3.connect(path)
    marks = ", ".join("?" * len(names))
    found = [r[0] for r in db.execute(f"SELECT pageno FROM dbstat WHERE name IN ({marks})"
                                      " AND pagetype = ?", (*names, kind))]
    db.close()
    return found


def indexes(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    db.close()
    return names


def overwrite(path: Path, numbers: list[int], fill: bytes) -> None:
    with path.open("r+b") as f:
        for number in numbers:
            f.seek((number - 1) * PAGE)
            f.write(fill * PAGE)


def half_kept(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def schema_zeroed(path: Path) -> None:
    overwrite(path, [1], b"\x00")


def indexes_and_a_leaf(path: Path) -> None:
    """Garbage over every index page and every interior page of the messages table, and over
    one leaf of it; the marker a failed read leaves, so the open checks the file."""
    garbage = pages(path, "leaf", indexes(path)) + pages(path, "internal", indexes(path))
    garbage += pages(path, "internal", ["messages"])
    leaves = pages(path, "leaf", ["messages"])
    overwrite(path, garbage, b"\xa5")
    overwrite(path, [leaves[len(leaves) // 2]], b"\x5a")
    recover.marker(path).touch()


def every_tenth_page(path: Path) -> None:
    """Garbage over one page in ten (the first, the header and schema, among them)."""
    overwrite(path, list(range(1, path.stat().st_size // PAGE + 1, 10)), b"\xa5")


DAMAGES: list[tuple[str, Callable[[Path], None]]] = [
    ("half the bytes kept", half_kept),
    ("header and schema zeroed", schema_zeroed),
    ("indexes, interior pages, one leaf: garbage", indexes_and_a_leaf),
    ("one page in ten: garbage", every_tenth_page),
]


def recover_once(source: Path,
                 damage: Callable[[Path], None]) -> tuple[float, float, float, int, int]:
    """(wall, CPU seconds of the open, CPU seconds of one pass over the damaged file's pages,
    threads, messages) of opening a damaged copy of ``source``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chatrepl.db"
        shutil.copyfile(source, path)
        damage(path)
        walk = time.process_time()
        with sqlite3.connect(":memory:") as db:
            migrations.apply(db)
            shapes.walk(path, [shapes.shape(db, table) for table in recover.TABLES])
        walk = time.process_time() - walk
        wall, cpu = time.perf_counter(), time.process_time()
        store = SQLiteStore(path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.close()
        assert store.recovered is not None
        return wall, cpu, walk, store.recovered.threads, store.recovered.messages


def measure(build: Callable[[Path], int], runs: int,
            damages: list[tuple[str, Callable[[Path], None]]]) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.db"
        total = build(source)
        size = source.stat().st_size
        shown = f"{size / (1 << 20):,.1f} MB" if size >= 1 << 20 else f"{size // 1024} KB"
        for name, damage in damages:
            results = [recover_once(source, damage) for _ in range(runs)]
            wall, cpu, walk = (statistics.median(r[k] for r in results) for k in range(3))
            threads, messages = results[0][3:]
            rows.append(f"| {shown} | {name} | {wall:.3f} s | {cpu:.3f} s | {walk:.3f} s | "
                        f"{threads} thread{'s' * (threads != 1)}, {messages:,} of {total:,}"
                        " messages |")
    return rows


def main() -> None:
    cases = [(the_issue_s, 3, DAMAGES[:1]), (lambda path: build(path, 100_000), 3, DAMAGES)]
    if "--quick" not in sys.argv:
        cases.append((lambda path: build(path, 100_000_000), 1, DAMAGES))
    print("| store | damage | time | CPU | one pass over its pages (CPU) | recovered |")
    print("| ---: | --- | ---: | ---: | ---: | --- |")
    for build_one, runs, damages in cases:
        for row in measure(build_one, runs, damages):
            print(row, flush=True)


if __name__ == "__main__":
    main()

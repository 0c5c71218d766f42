"""Recovery of a damaged SQLite store: quarantine the file, salvage what can still be read.

Nothing is ever deleted: the damaged database (with its -wal and -shm files) is moved aside under
a ``.damaged-<time>`` name and kept, and a new database gets every thread and message that can
still be read from it, row by row where whole tables cannot be.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from repl import files

SIDE_FILES = ("-wal", "-shm")
HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Recovery:
    path: Path  # the store that was opened
    damaged: Path  # where the damaged database now is
    reason: str
    threads: int = 0
    messages: int = 0

    def describe(self) -> str:
        return (f"the thread store {self.path} was damaged ({self.reason}); it was moved to "
                f"{self.damaged} and kept, and {self.threads} threads with {self.messages} "
                "messages were recovered from it into a new store. Carry on as usual.")


def needs_check(path: Path) -> bool:
    """Cheap signs of damage: a marker left by a failed read, or a file shorter than its header
    says (truncated), or one that is not SQLite at all."""
    if marker(path).exists():
        return True
    try:
        size = path.stat().st_size
        if size == 0:
            return False
        with path.open("rb") as f:
            header = f.read(100)
    except OSError:
        return False
    if len(header) < 100 or not header.startswith(HEADER):
        return True
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    size_is_valid = header[24:28] == header[92:96]  # "version-valid-for" matches the counter
    return size_is_valid and pages > 0 and size < pages * page_size


def marker(path: Path) -> Path:
    return path.with_name(path.name + ".check")


def is_intact(db: sqlite3.Connection) -> bool:
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError:
        return False
    return rows == [("ok",)]


def quarantine(path: Path) -> Path:
    damaged = files.quarantine(path, companions=SIDE_FILES)
    marker(path).unlink(missing_ok=True)
    return damaged


def _rows(db: sqlite3.Connection, table: str,
          wanted: tuple[str, ...]) -> tuple[list[str], list[tuple[object, ...]]]:
    """(columns, every readable row) of ``table``: all at once if possible, else one id at a
    time. Only columns the damaged file has (it may predate a migration) are read."""
    try:
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        have = set(wanted[:6])
    chosen = [c for c in wanted if c in have]
    select = f"SELECT {', '.join(chosen)} FROM {table}"
    try:
        return chosen, db.execute(select + " ORDER BY id").fetchall()
    except sqlite3.DatabaseError:
        pass
    try:
        top = int(db.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0)
    except (sqlite3.DatabaseError, TypeError, ValueError):
        top = 100_000
    return chosen, _one_by_one(db, select + " WHERE id = ?", top)


def columns(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
    """The columns of ``table`` in ``db`` (the new store, migrated), in their order: the
    migrations name them once, so a column a later migration adds is recovered too."""
    return tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))


BLOB_TABLES = (("blobs", ("sha", "data")), ("message_blobs", ("message_id", "sha")))


def _by_rowid(db: sqlite3.Connection, table: str,
              columns: tuple[str, ...]) -> list[tuple[object, ...]]:
    """Every readable row of ``table`` (none if the file predates it): at once, else one rowid
    at a time."""
    select = f"SELECT {', '.join(columns)} FROM {table}"
    try:
        return db.execute(select).fetchall()
    except sqlite3.DatabaseError:
        pass
    try:
        top = int(db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0)
    except (sqlite3.DatabaseError, TypeError, ValueError):
        return []
    return _one_by_one(db, select + " WHERE rowid = ?", top)


def _one_by_one(db: sqlite3.Connection, select: str, top: int) -> list[tuple[object, ...]]:
    """The rows ``select`` (with one ``?`` for the key) reads for keys 1..top, skipping those
    a damaged page hides."""
    rows = []
    for key in range(1, top + 1):
        try:
            row = db.execute(select, (key,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row:
            rows.append(row)
    return rows


def salvage(damaged: Path, target: sqlite3.Connection) -> tuple[int, int]:
    """Copy what can be read from ``damaged`` into ``target`` (migrated, empty); the counts.

    It reads a scratch copy (with the -wal, so the last commits count), so the kept damaged file
    stays exactly as it was found."""
    with tempfile.TemporaryDirectory(prefix="chatrepl-salvage-") as scratch:
        copy = Path(scratch) / "damaged.db"
        shutil.copyfile(damaged, copy)
        _fit_header(copy)
        wal = damaged.with_name(damaged.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        return _copy_rows(copy, target)


def _insert(table: str, columns: tuple[str, ...] | list[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _fit_header(copy: Path) -> None:
    """A truncated file still claims its old size, and SQLite then refuses every page; make the
    header claim only the whole pages that are left, so the pages that survived can be read."""
    with copy.open("r+b") as f:
        header = f.read(100)
        if len(header) < 100 or not header.startswith(HEADER):
            return
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = copy.stat().st_size // page_size
        if pages and int.from_bytes(header[28:32], "big") > pages:
            f.truncate(pages * page_size)
            f.seek(28)
            f.write(pages.to_bytes(4, "big"))


def _copy_rows(damaged: Path, target: sqlite3.Connection) -> tuple[int, int]:
    try:
        source = sqlite3.connect(damaged)
    except sqlite3.Error:
        return 0, 0
    try:
        thread_columns, threads = _rows(source, "threads", columns(target, "threads"))
        message_columns, messages = _rows(source, "messages", columns(target, "messages"))
        state = []
        try:
            state = source.execute("SELECT key, value FROM state").fetchall()
        except sqlite3.DatabaseError:
            pass
        found = {table: _by_rowid(source, table, columns) for table, columns in BLOB_TABLES}
    except sqlite3.DatabaseError:
        return 0, 0
    finally:
        source.close()
    # messages whose thread row is lost go to a thread of their own rather than away
    known = {int(str(row[0])) for row in threads}
    now = time.time()
    lost = sorted({int(str(row[1])) for row in messages} - known)
    target.execute("BEGIN IMMEDIATE")
    target.executemany(_insert("threads", thread_columns), threads)
    target.executemany(_insert("threads", columns(target, "threads")[:6]),
                       [(tid, f"recovered-{tid}", None, None, now, now) for tid in lost])
    kept = {row[0] for row in target.execute("SELECT id FROM threads")}
    messages = [row for row in messages if row[1] in kept]
    target.executemany(_insert("messages", message_columns), messages)
    target.execute("UPDATE messages SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL")
    target.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", state)
    ids = {row[0] for row in messages}
    target.executemany(_insert("blobs", BLOB_TABLES[0][1]), found["blobs"])
    target.executemany(_insert("message_blobs", BLOB_TABLES[1][1]),
                       [row for row in found["message_blobs"] if row[0] in ids])
    target.execute("COMMIT")
    return len(kept), len(messages)

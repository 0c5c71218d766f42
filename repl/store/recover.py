"""Recovery of a damaged SQLite store: quarantine the file, salvage what can still be read.

Nothing is ever deleted: the damaged database (with its -wal and -shm files) is moved aside under
a ``.damaged-<time>`` name and kept, and a new database gets every thread and message that can
still be read from it: through SQLite where a whole table reads, else off every intact page of
the file (repl/store/sqlfile.py, shapes.py), whatever its schema and indexes still say.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from repl import files
from repl.store import shapes

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
                f"{self.damaged} and kept, and {_counted(self.threads, 'thread')} with "
                f"{_counted(self.messages, 'message')} were recovered from it into a new store. "
                "Carry on as usual.")


def _counted(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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


MARK = ".check"  # beside the store: a read found it damaged; the next start checks it


def marker(path: Path) -> Path:
    return path.with_name(path.name + MARK)


def is_intact(db: sqlite3.Connection) -> bool:
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    except (sqlite3.DatabaseError, UnicodeDecodeError):  # its error quoting damaged bytes
        return False
    return rows == [("ok",)]


def quarantine(path: Path) -> Path:
    damaged = files.quarantine(path, companions=SIDE_FILES)
    marker(path).unlink(missing_ok=True)
    return damaged


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


TABLES = ("threads", "messages", "state", "blobs", "message_blobs")
Rows = tuple[tuple[str, ...], list[shapes.Row]]  # the columns read, and the rows


def _copy_rows(damaged: Path, target: sqlite3.Connection) -> tuple[int, int]:
    """Each table read whole through SQLite where it can be; the others off its pages."""
    wanted = {table: shapes.shape(target, table) for table in TABLES}
    found = _read_whole(damaged, wanted)
    unread = [wanted[table] for table in TABLES if table not in found]
    if unread:
        found.update((table, (wanted[table].columns, rows))
                     for table, rows in shapes.walk(damaged, unread).items())
    return _insert_all(target, found)


def _read_whole(damaged: Path, wanted: dict[str, shapes.Shape]) -> dict[str, Rows]:
    found = {}
    source = sqlite3.connect(damaged)
    try:
        for table, shape in wanted.items():
            try:
                found[table] = _whole(source, table, shape.columns)
            # read off its pages instead (MemoryError: SQLite's NOMEM, a damaged page's sizes)
            except (sqlite3.DatabaseError, UnicodeDecodeError, MemoryError):
                continue
    finally:
        source.close()
    return found


def _whole(db: sqlite3.Connection, table: str, wanted: tuple[str, ...]) -> Rows:
    """Every row of ``table``, with the columns the damaged file has (it may predate a
    migration, or the table); SQLite's error if any page of it is damaged."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    columns = tuple(column for column in wanted if column in have)
    if not columns:
        return wanted, []
    return columns, db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()


def _insert_all(target: sqlite3.Connection, found: dict[str, Rows]) -> tuple[int, int]:
    target.execute("BEGIN IMMEDIATE")
    threads, messages = _insert_threads(target, found["threads"], found["messages"])
    target.executemany(_insert("state", found["state"][0]), found["state"][1])
    target.executemany(_insert("blobs", found["blobs"][0]), found["blobs"][1])
    columns, links = found["message_blobs"]
    target.executemany(_insert("message_blobs", columns),
                       [row for row in links if row[0] in messages])
    target.execute("COMMIT")
    return threads, len(messages)


def _insert_threads(target: sqlite3.Connection, threads: Rows,
                    messages: Rows) -> tuple[int, set[object]]:
    """(how many threads, the ids of the messages) now in ``target``: messages whose thread row
    is lost go to a thread of their own rather than away; a row's references are to rows that
    are in ``target`` (a foreign key is not a conflict INSERT OR IGNORE would skip)."""
    (thread_columns, thread_rows), (message_columns, message_rows) = threads, messages
    lost = {row[1] for row in message_rows if isinstance(row[1], int)}
    lost -= {row[0] for row in thread_rows}
    now = time.time()
    target.executemany(_insert("threads", thread_columns), thread_rows)
    target.executemany(_insert("threads", ("id", "name", "created_at", "updated_at")),
                       [(tid, f"recovered-{tid}", now, now) for tid in sorted(lost)])
    kept = {row[0] for row in target.execute("SELECT id FROM threads")}
    message_rows = [row for row in message_rows if row[1] in kept]
    target.executemany(_insert("messages", message_columns), message_rows)
    target.execute("UPDATE messages SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL")
    return len(kept), {row[0] for row in target.execute("SELECT id FROM messages")}

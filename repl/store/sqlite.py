"""The SQLite store: one database file, WAL, every write in a BEGIN IMMEDIATE transaction.

Two processes on one thread both append safely: writers queue on the database lock (busy timeout)
instead of failing, and readers always see whole, committed turns.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from repl.errors import StoreBusyError, StoreError, ThreadError
from repl.store import migrations
from repl.thread import Message, ThreadInfo, Usage

BUSY_TIMEOUT_MS = 10_000

_INFO = """
    SELECT t.name, t.model, t.system, t.created_at, t.updated_at,
           (SELECT count(*) FROM messages m WHERE m.thread_id = t.id)
    FROM threads t"""


def _private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, or tighten it if it exists."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class SQLiteStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path.parent, 0o700)
            _private_file(path)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the thread store {path}: {e}") from None
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(self._db)
        except sqlite3.Error as e:
            self._db.close()
            raise StoreError(f"the thread store {path} is unreadable ({e})") from None
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._error(e) from None
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise self._error(e) from None
            raise

    def _error(self, e: sqlite3.Error) -> StoreError:
        text = str(e)
        if "locked" in text or "busy" in text:
            return StoreBusyError(f"the thread store is busy (another chatrepl is writing): {text}")
        return StoreError(f"cannot write to the thread store {self.path}: {text}")

    def _id(self, name: str) -> int:
        row = self._db.execute("SELECT id FROM threads WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ThreadError(f"no thread named {name!r}")
        return int(row[0])

    # -- threads ------------------------------------------------------------------------------

    def list_threads(self) -> list[ThreadInfo]:
        rows = self._db.execute(_INFO + " ORDER BY t.updated_at DESC, t.id DESC").fetchall()
        return [ThreadInfo(*row) for row in rows]

    def get(self, name: str) -> ThreadInfo | None:
        row = self._db.execute(_INFO + " WHERE t.name = ?", (name,)).fetchone()
        return ThreadInfo(*row) if row else None

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        now = self._clock()
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO threads (name, model, system, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, model, system, now, now),
                )
        except StoreError as e:
            if "UNIQUE" in str(e):
                raise ThreadError(f"a thread named {name!r} already exists") from None
            raise
        return ThreadInfo(name, model, system, now, now, 0)

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False) -> None:
        with self._write() as db:
            tid = self._id(name)
            if model is not None:
                db.execute("UPDATE threads SET model = ? WHERE id = ?", (model, tid))
            if system is not None or clear_system:
                db.execute("UPDATE threads SET system = ? WHERE id = ?", (system, tid))

    def rename(self, old: str, new: str) -> None:
        try:
            with self._write() as db:
                db.execute("UPDATE threads SET name = ? WHERE id = ?", (new, self._id(old)))
                db.execute("UPDATE state SET value = ? WHERE value = ? AND key = 'last_thread'",
                           (new, old))
        except StoreError as e:
            if "UNIQUE" in str(e):
                raise ThreadError(f"a thread named {new!r} already exists") from None
            raise

    def delete(self, name: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM threads WHERE id = ?", (self._id(name),))

    # -- messages -----------------------------------------------------------------------------

    def append(self, name: str, message: Message) -> Message:
        created = message.created_at or self._clock()
        with self._write() as db:
            tid = self._id(name)
            cur = db.execute(
                "INSERT INTO messages (thread_id, role, content, created_at, model, status,"
                " prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (tid, message.role, message.content, created, message.model, message.status,
                 message.usage.prompt_tokens, message.usage.completion_tokens),
            )
            db.execute("UPDATE threads SET updated_at = ? WHERE id = ?", (created, tid))
        return Message(message.role, message.content, created, message.model, message.status,
                       message.usage, cur.lastrowid)

    def messages(self, name: str, *, last: int | None = None) -> list[Message]:
        tid = self._id(name)
        sql = ("SELECT role, content, created_at, model, status, prompt_tokens, completion_tokens,"
               " id FROM messages WHERE thread_id = ? ORDER BY id DESC")
        params: tuple[int, ...] = (tid,)
        if last is not None:
            sql += " LIMIT ?"
            params = (tid, max(last, 0))
        rows = self._db.execute(sql, params).fetchall()
        return [Message(r[0], r[1], r[2], r[3], r[4], Usage(r[5], r[6]), r[7])
                for r in reversed(rows)]

    # -- small state (the thread used last) -----------------------------------------------------

    def get_state(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value ="
                       " excluded.value", (key, value))

    def close(self) -> None:
        self._db.close()

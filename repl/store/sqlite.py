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
from repl.store import migrations, recover
from repl.thread import Message, ThreadInfo, Usage

BUSY_TIMEOUT_MS = 10_000

class _Damaged(sqlite3.DatabaseError):
    sqlite_errorname = "SQLITE_CORRUPT"


def _is_damage(e: sqlite3.Error) -> bool:
    return getattr(e, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


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
        self.recovered: recover.Recovery | None = None  # set when a damaged file was replaced
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path.parent, 0o700)
            _private_file(path)
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as e:
                if not _is_damage(e):
                    raise
                self._db = self._recover(str(e))
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the thread store {path}: {e}") from None
        for suffix in recover.SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            if recover.needs_check(self.path) and not recover.is_intact(db):
                raise _Damaged("it failed SQLite's integrity check")
            migrations.apply(db)
            recover.marker(self.path).unlink(missing_ok=True)
        except BaseException:
            db.close()
            raise
        return db

    def _recover(self, reason: str) -> sqlite3.Connection:
        """Move the damaged file aside (kept), start a new one, copy in what can be read."""
        damaged = recover.quarantine(self.path)
        _private_file(self.path)
        db = self._connect()
        threads, messages = recover.salvage(damaged, db)
        self.recovered = recover.Recovery(damaged, reason, threads, messages)
        return db

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

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._db
        except sqlite3.Error as e:
            raise self._error(e) from None

    def _error(self, e: sqlite3.Error) -> StoreError:
        text = str(e)
        if _is_damage(e):
            recover.marker(self.path).touch()  # the next start checks the file and repairs it
            return StoreError(f"the thread store {self.path} is damaged ({text}); restart "
                              "chatrepl to repair it (nothing is deleted)")
        if "locked" in text or "busy" in text:
            return StoreBusyError(f"the thread store is busy (another chatrepl is writing): {text}")
        return StoreError(f"cannot write to the thread store {self.path}: {text}")

    def _id(self, name: str) -> int:
        with self._read() as db:
            row = db.execute("SELECT id FROM threads WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ThreadError(f"no thread named {name!r}")
        return int(row[0])

    # -- threads ------------------------------------------------------------------------------

    def list_threads(self) -> list[ThreadInfo]:
        with self._read() as db:
            rows = db.execute(_INFO + " ORDER BY t.updated_at DESC, t.id DESC").fetchall()
        return [ThreadInfo(*row) for row in rows]

    def get(self, name: str) -> ThreadInfo | None:
        with self._read() as db:
            row = db.execute(_INFO + " WHERE t.name = ?", (name,)).fetchone()
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
        with self._read() as db:
            rows = db.execute(sql, params).fetchall()
        return [Message(r[0], r[1], r[2], r[3], r[4], Usage(r[5], r[6]), r[7])
                for r in reversed(rows)]

    # -- small state (the thread used last) -----------------------------------------------------

    def get_state(self, key: str) -> str | None:
        with self._read() as db:
            row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value ="
                       " excluded.value", (key, value))

    def close(self) -> None:
        self._db.close()

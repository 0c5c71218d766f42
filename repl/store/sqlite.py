"""The SQLite store: one database file, WAL, every write in a BEGIN IMMEDIATE transaction.

Two processes on one thread both append safely: writers queue on the database lock (busy timeout)
instead of failing, and readers always see whole, committed turns.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from repl import files
from repl.errors import NotInTrashError, StoreBusyError, StoreError, ThreadError
from repl.parts import attached_text
from repl.store import blobs, recover, sqlopen, sqlrows, sqlsearch
from repl.store.sqlrows import COLUMNS, INFO
from repl.thread import ROOT, Hit, Message, ThreadInfo, last_group, restored_name
from repl.thread_settings import ThreadSettings

# a state key set in the transaction that deletes, cleared once the scrub is done: an erase
# cut short (kill -9, a full disk) is scrubbed at the next open (no user key starts with ".")
ERASING = ".erasing"


class SQLiteStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self.recovered: recover.Recovery | None = None  # set when a damaged file was replaced
        self.read_only = False  # a file on a read-only disk: read, and every write says why
        sqlopen.check_files(path)
        try:
            try:
                files.private_dir(path.parent)
                files.private_file(path)
            except OSError as e:
                if e.errno not in sqlopen.READ_ONLY or not path.is_file():
                    raise
                self._db, self.read_only = sqlopen.connect_read_only(path), True
                return
            try:
                self._db = sqlopen.connect(path)
            except sqlite3.DatabaseError as e:
                if not sqlopen.is_damage(e):
                    raise
                self._db, self.recovered = sqlopen.replace_damaged(path, str(e))
            self._finish_erasure()
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the thread store {path}: {e}") from None
        for suffix in recover.SIDE_FILES:
            files.tighten(path.with_name(path.name + suffix))

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
        if sqlopen.is_damage(e):
            with contextlib.suppress(OSError):  # the next start checks the file, repairs it
                files.private_file(recover.marker(self.path))
            return StoreError(f"the thread store {self.path} is damaged ({text}); restart "
                              "chatrepl to repair it (nothing is deleted)")
        if self.read_only:
            return StoreError(f"cannot write to the thread store {self.path}: it is on a "
                              "read-only disk (reading works)")
        if "locked" in text or "busy" in text:
            return StoreBusyError(f"the thread store is busy (another chatrepl is writing): {text}")
        return StoreError(f"cannot write to the thread store {self.path}: {text}")

    def _id(self, name: str) -> int:
        return int(self._one("SELECT id FROM threads WHERE name = ?", name,
                             ThreadError(f"no thread named {name!r}")))

    def _one(self, sql: str, key: str, missing: Exception) -> Any:
        """The one value ``sql`` reads for ``key``; ``missing`` is raised when there is none."""
        with self._read() as db:
            row = db.execute(sql, (key,)).fetchone()
        if row is None:
            raise missing
        return row[0]

    # -- threads ------------------------------------------------------------------------------

    def list_threads(self) -> list[ThreadInfo]:
        with self._read() as db:
            rows = db.execute(INFO + " WHERE t.deleted_at IS NULL"
                              " ORDER BY t.updated_at DESC, t.id DESC").fetchall()
        return [sqlrows.info(row) for row in rows]

    def get(self, name: str) -> ThreadInfo | None:
        with self._read() as db:
            row = db.execute(INFO + " WHERE t.name = ? AND t.deleted_at IS NULL",
                             (name,)).fetchone()
        return sqlrows.info(row) if row else None

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        now = self._clock()
        with self._unique(name), self._write() as db:
            db.execute("INSERT INTO threads (name, model, system, created_at, updated_at)"
                       " VALUES (?, ?, ?, ?, ?)", (name, model, system, now, now))
        return ThreadInfo(name, model, system, now, now, 0)

    @contextmanager
    def _unique(self, name: str) -> Iterator[None]:
        try:
            yield
        except StoreError as e:
            if "UNIQUE" in str(e):
                raise ThreadError(f"a thread named {name!r} already exists") from None
            raise

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False, settings: ThreadSettings | None = None) -> None:
        with self._write() as db:
            tid = self._id(name)
            if settings is not None:
                db.execute("UPDATE threads SET settings = ? WHERE id = ?",
                           (sqlrows.dumps(settings.stored()), tid))
            if model is not None:
                db.execute("UPDATE threads SET model = ? WHERE id = ?", (model, tid))
            if system is not None or clear_system:
                db.execute("UPDATE threads SET system = ? WHERE id = ?", (system, tid))

    def rename(self, old: str, new: str) -> None:
        with self._unique(new), self._write() as db:
            db.execute("UPDATE threads SET name = ? WHERE id = ?", (new, self._id(old)))
            db.execute("UPDATE state SET value = ? WHERE value = ? AND key = 'last_thread'",
                       (new, old))

    def delete(self, name: str) -> None:
        """Move the thread to the trash. Its name is freed; restore() brings it back."""
        with self._write() as db:
            tid = self._id(name)
            # a name no user can type (names cannot start with '.'), so it never collides
            db.execute("UPDATE threads SET deleted_at = ?, deleted_name = name,"
                       " name = '.trash/' || id || '/' || name WHERE id = ?",
                       (self._clock(), tid))

    def trash(self) -> list[ThreadInfo]:
        return [info for info, _ in self._trash()]

    def _trash(self) -> list[tuple[ThreadInfo, int]]:
        with self._read() as db:
            rows = db.execute(INFO.replace("t.name,", "t.id, t.deleted_name,", 1) +
                              " WHERE t.deleted_at IS NOT NULL ORDER BY t.deleted_at DESC"
                              ).fetchall()
        return [(sqlrows.info(row[1:]), int(row[0])) for row in rows]

    def trashed_threads(self) -> list[tuple[ThreadInfo, list[Message]]]:
        with self._read() as db:
            return [(info, [sqlrows.message(r) for r in db.execute(
                f"SELECT {COLUMNS} FROM messages WHERE thread_id = ? ORDER BY id", (tid,))])
                    for info, tid in self._trash()]

    def restore(self, name: str) -> str:
        """Bring the most recently deleted thread called ``name`` back; returns its name now
        (``name``, or ``name-restored[-N]`` when a live thread has taken it)."""
        with self._write() as db:
            row = db.execute("SELECT id FROM threads WHERE deleted_name = ? AND deleted_at IS NOT"
                             " NULL ORDER BY deleted_at DESC LIMIT 1", (name,)).fetchone()
            if row is None:
                raise NotInTrashError(name)
            target = restored_name(name, lambda n: db.execute(
                "SELECT 1 FROM threads WHERE name = ?", (n,)).fetchone() is not None)
            db.execute("UPDATE threads SET name = ?, deleted_at = NULL, deleted_name = NULL"
                       " WHERE id = ?", (target, row[0]))
        return target

    def fork(self, source: str, target: str, *, upto: int | None = None) -> ThreadInfo:
        """A new thread ``target`` with the conversation of ``source`` (up to message ``upto``)."""
        now = self._clock()
        with self._unique(target), self._write() as db:
            src = self._id(source)
            db.execute("INSERT INTO threads (name, model, system, settings, created_at,"
                       " updated_at) SELECT ?, model, system, settings, ?, ? FROM threads"
                       " WHERE id = ?",
                       (target, now, now, src))
            dst = self._id(target)
            ids: dict[int, int] = {}
            rows = db.execute(f"SELECT {COLUMNS} FROM messages WHERE thread_id = ? AND hidden IS"
                              " NULL AND id <= ? ORDER BY id", (src, upto or 2**62)).fetchall()
            last = ROOT  # the copy is the conversation alone: each follows the one before
            for row in rows:
                m = sqlrows.message(row)
                covers = ids.get(m.covers) if m.covers is not None else None
                last = ids[m.id or 0] = self._insert(db, dst, replace(
                    m, covers=covers, parent=last)).id or 0
        info = self.get(target)
        assert info is not None
        return info

    # -- messages -----------------------------------------------------------------------------

    def _insert(self, db: sqlite3.Connection, tid: int, m: Message) -> Message:
        """Store ``m``; the message already stored when the thread has its uid (a resend)."""
        row = db.execute(f"SELECT {COLUMNS} FROM messages WHERE thread_id = ? AND uid = ?",
                         (tid, m.uid)).fetchone()
        if row:
            return sqlrows.message(row)
        created = m.created_at or self._clock()
        found: dict[str, bytes] = {}
        if m.parts:
            parts, found = blobs.take_out(m.parts)
            m = replace(m, parts=parts)
        db.executemany("INSERT OR IGNORE INTO blobs (sha, data) VALUES (?, ?)", found.items())
        cur = db.execute(
            f"INSERT INTO messages (thread_id, created_at, hidden_at, names, {sqlrows.WRITTEN})"
            f" VALUES (?, ?, ?, ?{', ?' * 16})",
            (tid, created, created if m.hidden else None, attached_text(m) or None,
             *sqlrows.written(m)))
        db.execute("UPDATE threads SET updated_at = max(updated_at, ?) WHERE id = ?",
                   (created, tid))
        used = {r.sha for r in blobs.refs(m.parts)}  # a fork's references count too
        db.executemany("INSERT INTO message_blobs (message_id, sha) VALUES (?, ?)",
                       [(cur.lastrowid, sha) for sha in sorted(used)])
        return replace(m, id=int(cur.lastrowid or 0), created_at=created)

    def append(self, name: str, message: Message) -> Message:
        with self._write() as db:  # _insert gives it its time
            tid = self._id(name)
            last = db.execute("SELECT max(id) FROM messages WHERE thread_id = ? AND hidden IS"
                              " NULL", (tid,)).fetchone()[0]
            return self._insert(db, tid, replace(message, hidden=None, parent=last or ROOT))

    def append_many(self, name: str, messages: list[Message]) -> list[Message]:
        """Add many messages in one transaction (an import, a copy: hidden ones stay hidden)."""
        with self._write() as db:
            tid = self._id(name)
            return [self._insert(db, tid, message) for message in messages]

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]:
        """The conversation in order (with ``hidden``, also the messages taken out of it)."""
        tid = self._id(name)
        sql = f"SELECT {COLUMNS} FROM messages WHERE thread_id = ?"
        if not hidden:
            sql += " AND hidden IS NULL"
        sql += " ORDER BY id DESC"
        params: tuple[int, ...] = (tid,)
        if last is not None:
            sql += " LIMIT ?"
            params = (tid, max(last, 0))
        with self._read() as db:
            rows = db.execute(sql, params).fetchall()
        return [sqlrows.message(r) for r in reversed(rows)]

    def hide(self, name: str, ids: list[int], reason: str) -> None:
        """Take messages out of the conversation (kept, searchable); ``reason`` says why."""
        with self._write() as db:
            tid = self._id(name)
            now = self._clock()
            db.executemany("UPDATE messages SET hidden = ?, hidden_at = ? WHERE id = ? AND"
                           " thread_id = ?", [(reason, now, i, tid) for i in ids])

    def unhide(self, name: str, ids: list[int]) -> None:
        with self._write() as db:
            tid = self._id(name)
            db.executemany("UPDATE messages SET hidden = NULL, hidden_at = NULL WHERE id = ? AND"
                           " thread_id = ?", [(i, tid) for i in ids])

    def erase(self, name: str, ids: list[int]) -> int:
        """Delete the messages (and their full-text index entries) for good."""
        with self._write() as db:
            tid = self._id(name)
            erased = sum(db.execute("DELETE FROM messages WHERE id = ? AND thread_id = ?",
                                    (i, tid)).rowcount for i in ids)
            self._mark_erasing(db)
        self._scrub()
        return erased

    def purge(self, name: str) -> int:
        with self._write() as db:
            tids = [r[0] for r in db.execute("SELECT id FROM threads WHERE deleted_name = ? AND"
                                             " deleted_at IS NOT NULL", (name,))]
            if not tids:
                raise NotInTrashError(name)
            for tid in tids:
                db.execute("DELETE FROM messages WHERE thread_id = ?", (tid,))
                db.execute("DELETE FROM threads WHERE id = ?", (tid,))
            self._mark_erasing(db)
        self._scrub()
        return len(tids)

    @staticmethod
    def _mark_erasing(db: sqlite3.Connection) -> None:
        db.execute("INSERT OR REPLACE INTO state VALUES (?, '1')", (ERASING,))

    def _scrub(self) -> None:
        """After a delete, leave no copy on disk: the blobs no message uses deleted, the
        full-text index merged into one segment (which drops the deleted entries; secure_delete
        zeroes the freed pages), and the WAL copied into the database and truncated. The
        erase's mark goes only once all of it is done (a reader holding the WAL keeps it)."""
        with self._write() as db:
            db.execute("DELETE FROM blobs WHERE sha NOT IN (SELECT sha FROM message_blobs)")
            db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
        if self._checkpoint():
            with self._write() as db:
                db.execute("DELETE FROM state WHERE key = ?", (ERASING,))
            self._checkpoint()

    def _checkpoint(self) -> bool:
        """The WAL copied into the database and truncated; False if a reader kept part."""
        with self._read() as db:
            busy, logged, copied = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(busy == 0 and logged == copied)

    def _finish_erasure(self) -> None:
        """At open: the scrub of an erase that was cut short, if one was (else nothing). When
        another chatrepl is writing, the next open does it."""
        if self.get_state(ERASING) is None:
            return
        with contextlib.suppress(StoreError):
            self._scrub()

    def last_hidden(self, name: str, reason: str) -> list[Message]:
        """The messages most recently hidden for ``reason`` (or a ``reason:detail``), together
        (one /undo, say)."""
        tid = self._id(name)
        with self._read() as db:
            rows = db.execute(f"SELECT {COLUMNS}, hidden_at FROM messages WHERE thread_id = ?"
                              " AND hidden IS NOT NULL", (tid,)).fetchall()
        return last_group([(sqlrows.message(r), r[-1]) for r in rows], reason)

    def expand(self, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The request's messages with their attachments' bytes put back (blobs.py)."""
        return blobs.expand(payload, self._blob)

    def _blob(self, sha: str) -> bytes:
        lacking = StoreError(f"the thread store {self.path} lacks an attachment ({sha[:12]})")
        return bytes(self._one("SELECT data FROM blobs WHERE sha = ?", sha, lacking))

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Messages of live threads matching every word of ``text``, best first (sqlsearch)."""
        with self._read() as db:
            return sqlsearch.search(db, text, limit)

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

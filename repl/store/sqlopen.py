"""Opening the SQLite store's file: a connection set up for safe concurrent writes (WAL, busy
timeout, secure delete) and migrated; read-only (immutable) on a disk chatrepl cannot write;
or, when the file is damaged, a new file with what could be salvaged from the old one."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from repl import files
from repl.errors import StoreError
from repl.store import migrations, recover, sqlrows

BUSY_TIMEOUT_MS = 10_000
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)  # what a disk one cannot write to says


class Damaged(sqlite3.DatabaseError):
    sqlite_errorname = "SQLITE_CORRUPT"


def is_damage(e: sqlite3.Error) -> bool:
    return getattr(e, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


# the files SQLite opens by name beside the store, and the mark of a failed read
BESIDE = ("", *recover.SIDE_FILES, "-journal", recover.MARK)


def check_files(path: Path) -> None:
    """StoreError naming it if a link (or anything but a file) stands where the store or a
    file SQLite keeps beside it belongs: the store would be opened, and made private, through
    it, and SQLite fails on the others saying only "unable to open database file". Said,
    never removed (it may be the user's own)."""
    for suffix in BESIDE:
        try:
            files.check_file(path.with_name(path.name + suffix))
        except files.NotAFileError as e:
            raise StoreError(f"cannot open the thread store {path}: {e.path.name} is {e.what}, "
                             "which chatrepl never opens through; move it away") from None


def connect_read_only(path: Path) -> sqlite3.Connection:
    """The store as it is on a disk chatrepl may not write to (immutable: no -shm needed)."""
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True,
                         isolation_level=None)
    try:
        if migrations.pending(db):
            raise StoreError(f"the thread store {path} is read-only and was written by an "
                             "older chatrepl: it needs an upgrade, which writes")
    except BaseException:
        db.close()
        raise
    return db


def connect(path: Path) -> sqlite3.Connection:
    """The store's connection, migrated; Damaged (or SQLite's own error) if the file is."""
    # Look at the file before connecting: closing any other descriptor on it once SQLite has
    # it open would drop SQLite's POSIX locks, and another chatrepl closing would then
    # delete the WAL this one still writes to.
    suspect = recover.needs_check(path)
    db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA secure_delete = ON")  # what is erased is overwritten, not freed
        if suspect and not recover.is_intact(db):
            raise Damaged("it failed SQLite's integrity check")
        migrations.apply(db)
        _readable(db)
        recover.marker(path).unlink(missing_ok=True)
    except UnicodeDecodeError:  # SQLite's error (or a row) holds the damaged bytes themselves
        db.close()
        raise Damaged("it holds damaged text, bytes that are not UTF-8") from None
    except MemoryError:  # SQLITE_NOMEM: a damaged page's sizes ask for more than there is
        db.close()
        raise Damaged("a damaged page made SQLite run out of memory reading it") from None
    except BaseException:
        db.close()
        raise
    return db


def _readable(db: sqlite3.Connection) -> None:
    """Damaged if what the store reads cannot be (only prepared: no row is read). A schema
    whose text was damaged can pass SQLite's checks with a column renamed (a byte of
    ``model`` changed), and every read of the threads would then fail."""
    try:
        db.execute(f"{sqlrows.INFO} LIMIT 0")
        db.execute(f"SELECT {sqlrows.COLUMNS} FROM messages LIMIT 0")
    except sqlite3.OperationalError as e:
        raise Damaged(f"its schema is damaged ({e})") from None


def replace_damaged(path: Path, reason: str) -> tuple[sqlite3.Connection, recover.Recovery]:
    """Move the damaged file aside (kept), start a new one, copy in what can be read."""
    damaged = recover.quarantine(path)
    files.private_file(path)
    db = connect(path)
    threads, messages = recover.salvage(damaged, db)
    return db, recover.Recovery(path, damaged, reason, threads, messages)

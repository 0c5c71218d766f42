"""Schema migrations for the SQLite store: an append-only list, applied in order on open.

Never edit or reorder a migration once it has landed; add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def m001_initial(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE threads (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            model TEXT,
            system TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""")
    db.execute("""
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            thread_id INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at REAL NOT NULL,
            model TEXT,
            status TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER
        )""")
    db.execute("CREATE INDEX messages_by_thread ON messages(thread_id, id)")
    db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def m002_trash_hidden_search(db: sqlite3.Connection) -> None:
    """Threads go to a trash; messages can leave the conversation yet stay stored; full-text
    search; summaries that stand for earlier messages."""
    db.execute("ALTER TABLE threads ADD COLUMN deleted_at REAL")
    db.execute("ALTER TABLE threads ADD COLUMN deleted_name TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN hidden TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN hidden_at REAL")
    db.execute("ALTER TABLE messages ADD COLUMN covers INTEGER")
    db.execute("CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',"
               " content_rowid='id', tokenize='unicode61 remove_diacritics 2')")
    db.execute("""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END""")
    db.execute("""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content); END""")
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")


def m003_message_uids(db: sqlite3.Connection) -> None:
    """Every message gets the client-made id that makes a second append of it a no-op (existing
    ones a random one), unique within its thread."""
    db.execute("ALTER TABLE messages ADD COLUMN uid TEXT")
    db.execute("UPDATE messages SET uid = lower(hex(randomblob(16)))")
    db.execute("CREATE UNIQUE INDEX messages_by_uid ON messages(thread_id, uid)")


def m004_questions_index(db: sqlite3.Connection) -> None:
    """The questions of the conversation, by thread: a search hit's turn is counted from the
    index alone, not by reading every message before it."""
    db.execute("CREATE INDEX messages_questions ON messages(thread_id, id)"
               " WHERE role = 'user' AND hidden IS NULL")


def m005_whole_messages(db: sqlite3.Connection) -> None:
    """The whole API message: a list content's parts, its other keys (tool calls, tool call id,
    name, unknown keys) as JSON, and the answer's reasoning. NULL in the messages before."""
    db.execute("ALTER TABLE messages ADD COLUMN parts TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN fields TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN reasoning TEXT")


def m006_blobs(db: sqlite3.Connection) -> None:
    """Attachment bytes once per SHA-256, and which message uses which (a blob no message uses
    any more is deleted with the last one)."""
    db.execute("CREATE TABLE blobs (sha TEXT PRIMARY KEY, data BLOB NOT NULL)")
    db.execute("CREATE TABLE message_blobs (message_id INTEGER NOT NULL REFERENCES messages(id)"
               " ON DELETE CASCADE, sha TEXT NOT NULL)")
    db.execute("CREATE INDEX message_blobs_by_message ON message_blobs(message_id)")
    db.execute("CREATE INDEX message_blobs_by_sha ON message_blobs(sha)")


_INDEXED = ("CASE WHEN {0}.names IS NULL THEN {0}.content"
            " ELSE {0}.content || char(10) || {0}.names END")


def m007_search_attachment_names(db: sqlite3.Connection) -> None:
    """The names of a message's attachments are searched with its text. A message without
    any is indexed as before, so the index of older messages stays as it is."""
    db.execute("ALTER TABLE messages ADD COLUMN names TEXT")
    db.execute("DROP TRIGGER messages_fts_insert")
    db.execute("DROP TRIGGER messages_fts_delete")
    db.execute(f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, {_INDEXED.format("new")}); END""")
    db.execute(f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.id, {_INDEXED.format("old")}); END""")


def m008_settings_and_meta(db: sqlite3.Connection) -> None:
    """A thread's own settings, an answer's record of the exchange (Responses output items,
    response id) as JSON, and the cached and reasoning token counts. NULL before."""
    db.execute("ALTER TABLE threads ADD COLUMN settings TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN meta TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN cached_tokens INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER")


def m009_search_text_files(db: sqlite3.Connection) -> None:
    """A text file's name and text are searched with its message, as other attachments' names
    are (007 indexed those only): each message with parts is indexed again, from what
    repl/parts.py finds in it now (the names column holds it)."""
    from repl.errors import StoreError
    from repl.parts import attached_text
    from repl.store import sqlrows

    rows = db.execute(f"SELECT {sqlrows.MESSAGE}, names FROM messages"
                      " WHERE parts IS NOT NULL").fetchall()
    for row in rows:
        try:
            m, old = sqlrows.message(row[:-1]), row[-1]
        except (StoreError, ValueError):  # unreadable: it stays as it was indexed
            continue
        new = attached_text(m) or None
        if new == old:
            continue
        db.execute("INSERT INTO messages_fts(messages_fts, rowid, content)"
                   " VALUES ('delete', ?, ?)", (m.id, indexed(m.content, old)))
        db.execute("UPDATE messages SET names = ? WHERE id = ?", (new, m.id))
        db.execute("INSERT INTO messages_fts(rowid, content) VALUES (?, ?)",
                   (m.id, indexed(m.content, new)))


def m010_message_parents(db: sqlite3.Connection) -> None:
    """Each message names the one it follows in the thread's tree (the conversation as a tree:
    versions and branches, repl/tree.py). NULL before: derived from the order."""
    db.execute("ALTER TABLE messages ADD COLUMN parent INTEGER")


def indexed(content: str, names: str | None) -> str:
    """What the index holds for a message (as _INDEXED says in SQL)."""
    return content if names is None else f"{content}\n{names}"


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("001_initial", m001_initial),
    ("002_trash_hidden_search", m002_trash_hidden_search),
    ("003_message_uids", m003_message_uids),
    ("004_questions_index", m004_questions_index),
    ("005_whole_messages", m005_whole_messages),
    ("006_blobs", m006_blobs),
    ("007_search_attachment_names", m007_search_attachment_names),
    ("008_settings_and_meta", m008_settings_and_meta),
    ("009_search_text_files", m009_search_text_files),
    ("010_message_parents", m010_message_parents),
]


def apply(db: sqlite3.Connection) -> None:
    """Apply every migration not yet applied, each in its own write transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, migrate in MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                db.execute("ROLLBACK")
                continue
            migrate(db)
            db.execute("INSERT INTO _migrations VALUES (?, strftime('%s','now'))", (name,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def pending(db: sqlite3.Connection) -> list[str]:
    """The migrations a database has not had (every one, for a file without the table)."""
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:
        return [name for name, _ in MIGRATIONS]
    return [name for name, _ in MIGRATIONS if name not in done]

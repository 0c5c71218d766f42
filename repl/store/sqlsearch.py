"""Search in the SQLite store: FTS5 (bm25) for words as prefixes ("tok" finds "tokens"), a LIKE
for words of scripts written without spaces, which unicode61 leaves as one long token ("天気"
finds "今日はいい天気ですね"), and the turn each hit really belongs to."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from repl.store import words
from repl.store.migrations import indexed
from repl.thread import HIGHLIGHT, UNDONE_EDIT, Hit, Message, TurnCounter

_FROM = (" FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.deleted_at IS NULL")


def search(db: sqlite3.Connection, text: str, limit: int) -> list[Hit]:
    terms = text.split()
    unspaced = [w for w in terms if words.unspaced(w)]
    spaced = [w for w in terms if not words.unspaced(w)]
    if spaced:
        found = _indexed(db, spaced, unspaced, limit)
    elif unspaced:
        found = _scanned(db, text, unspaced, limit)
    else:
        return []
    return [_placed(db, tid, hit) for tid, hit in found]


_SEARCHED = "(m.content || char(10) || coalesce(m.names, ''))"  # the text, then attachments


def _like(terms: list[str]) -> tuple[str, list[str]]:
    escaped = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in terms]
    return "".join(f" AND {_SEARCHED} LIKE ? ESCAPE '\\'" for _ in terms), [
        f"%{w}%" for w in escaped]


def _indexed(db: sqlite3.Connection, spaced: list[str], unspaced: list[str],
             limit: int) -> list[tuple[int, Hit]]:
    query = " ".join('"{}"*'.format(w.replace('"', '""')) for w in spaced)
    like, patterns = _like(unspaced)
    rows = db.execute(
        "SELECT m.thread_id, t.name, m.id, m.role, snippet(messages_fts, 0, ?, ?, '…', 16),"
        " m.created_at, m.hidden, m.content, m.names FROM messages_fts"
        " JOIN messages m ON m.id = messages_fts.rowid"
        " JOIN threads t ON t.id = m.thread_id WHERE messages_fts MATCH ?"
        f" AND t.deleted_at IS NULL{like} ORDER BY bm25(messages_fts) LIMIT ?",
        (*HIGHLIGHT, query, *patterns, limit)).fetchall()
    wanted = words.query(" ".join(spaced + unspaced))
    return [(r[0], Hit(r[1], r[2], r[3], _marked(r[4], r[7], r[8], wanted), 0, r[5], r[6]))
            for r in rows]


def _marked(snippet: str, content: str, names: str | None, wanted: set[str]) -> str:
    """The snippet of a hit; one whose match is in an attachment (which FTS5's snippet cannot
    see: it reads the message's text only) is made from the text and the attachments."""
    if HIGHLIGHT[0] in snippet or not names:
        return snippet
    text = indexed(content, names)
    found = words.matches(text, wanted)
    return words.snippet(text, *found) if found else snippet


def _scanned(db: sqlite3.Connection, text: str, unspaced: list[str],
             limit: int) -> list[tuple[int, Hit]]:
    """Only unspaced words: no index helps, so every message that has them is read."""
    like, patterns = _like(unspaced)
    rows = db.execute("SELECT m.thread_id, t.name, m.id, m.role, m.content, m.created_at,"
                      f" m.hidden, m.names{_FROM}{like}", patterns).fetchall()
    wanted, tids = words.query(text), {}
    hits: list[tuple[int, Hit]] = []
    for tid, name, mid, role, content, created, hidden, names in rows:
        searched = indexed(content, names or None)
        found = words.hit(name, Message(role, searched, created, id=mid, hidden=hidden),
                          wanted, 0)
        if found:
            hits.append(found)
            tids[mid] = tid
    return [(tids[h.message_id], h) for h in words.best(hits, limit)]


def _placed(db: sqlite3.Connection, tid: int, hit: Hit) -> Hit:
    """``hit`` with its turn: the questions before it, or for a message taken out of the
    conversation, the turn TurnCounter gives it."""
    if hit.hidden is None:
        turn = db.execute("SELECT count(*) FROM messages WHERE thread_id = ? AND role = 'user'"
                          " AND hidden IS NULL AND id <= ?", (tid, hit.message_id)).fetchone()[0]
        return replace(hit, turn=max(int(turn), 1))
    counter, turn = TurnCounter(), 1
    for role, hidden in db.execute("SELECT role, hidden FROM messages WHERE thread_id = ? AND"
                                   " id <= ? ORDER BY id", (tid, hit.message_id)):
        turn = counter.step(user=role == "user", hidden=hidden is not None,
                            version=hidden == UNDONE_EDIT)
    return replace(hit, turn=turn)

"""How the SQLite store's rows are read and written: a thread's row as a ThreadInfo, a message's
row as a Message, and the columns a Message is written to."""

from __future__ import annotations

import json
from typing import Any

from repl.store import loads, stored_settings
from repl.thread import Message, ThreadInfo, Usage

INFO = """
    SELECT t.name, t.model, t.system, t.created_at, t.updated_at,
           (SELECT count(*) FROM messages m WHERE m.thread_id = t.id AND m.hidden IS NULL),
           t.deleted_at, t.settings
    FROM threads t"""

MESSAGE = ("role, content, created_at, model, status, prompt_tokens, completion_tokens, id,"
           " hidden, covers, uid, parts, fields, reasoning, cached_tokens, reasoning_tokens, meta")

# what the store reads: MESSAGE (as the migrations before 010 knew it) and the parent
COLUMNS = MESSAGE + ", parent"

# the columns written() fills, in its order
WRITTEN = ("role, content, model, status, prompt_tokens, completion_tokens, cached_tokens,"
           " reasoning_tokens, covers, hidden, uid, parts, fields, reasoning, meta, parent")


def info(row: tuple[Any, ...]) -> ThreadInfo:
    """A row of INFO as the thread it describes."""
    name, model, system, created_at, updated_at, count, deleted_at, settings = row
    return ThreadInfo(name, model, system, created_at, updated_at, count, deleted_at,
                      stored_settings(settings))


def message(r: tuple[Any, ...]) -> Message:
    """A row of COLUMNS (or of MESSAGE, without the parent) as the message it holds."""
    parts = tuple(loads(r[11])) if r[11] is not None else None
    return Message(r[0], r[1], r[2], r[3], r[4], Usage(r[5], r[6], r[14], r[15]), r[7], r[8],
                   r[9], r[10], parts, _json(r[12]), r[13], _json(r[16]),
                   r[17] if len(r) > 17 else None)


def written(m: Message) -> tuple[Any, ...]:
    """The values of the WRITTEN columns for ``m``."""
    parts = json.dumps([dict(p) for p in m.parts]) if m.parts is not None else None
    u = m.usage
    return (m.role, m.content, m.model, m.status, u.prompt_tokens, u.completion_tokens,
            u.cached_tokens, u.reasoning_tokens, m.covers, m.hidden, m.uid, parts,
            dumps(m.fields), m.reasoning, dumps(m.meta), m.parent)


def dumps(value: Any) -> str | None:
    """A dict column: NULL when empty."""
    return json.dumps(dict(value)) if value else None


def _json(text: str | None) -> dict[str, Any]:
    return loads(text) if text else {}

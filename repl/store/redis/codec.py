"""The Redis store's encoding: messages as compact JSON list items, thread hashes, and redis-py
errors as one readable line."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

from repl.parts import searchable
from repl.store import loads, stored_settings, words
from repl.thread import UNDONE_EDIT, Message, ThreadInfo, Usage, new_uid


def body(m: Message, hidden_at: float | None) -> str:
    """The message as JSON without its opening ``{"id":N,`` (the id is given when it is stored).
    ASCII only, so any str survives; content last, after the short fields. Parts and fields are
    JSON strings inside it, so no key of theirs looks like one of the item's (turn_signs)."""
    fields = {"role": m.role, "created_at": m.created_at, "model": m.model, "status": m.status,
              "prompt_tokens": m.usage.prompt_tokens,
              "completion_tokens": m.usage.completion_tokens,
              "cached_tokens": m.usage.cached_tokens,
              "reasoning_tokens": m.usage.reasoning_tokens, "covers": m.covers,
              "parent": m.parent,
              "hidden": m.hidden, "hidden_at": hidden_at, "uid": m.uid,
              "parts": None if m.parts is None else json.dumps([dict(p) for p in m.parts]),
              "fields": json.dumps(dict(m.fields)) if m.fields else None,
              "reasoning": m.reasoning,
              "meta": json.dumps(dict(m.meta)) if m.meta else None, "content": m.content}
    return json.dumps({k: v for k, v in fields.items() if v is not None},
                      separators=(",", ":"))[1:]


def encode(message_id: int, m: Message, hidden_at: float | None) -> str:
    return f'{{"id":{message_id},' + body(m, hidden_at)


def decode(raw: str) -> tuple[Message, float | None]:
    """The message and when it was hidden."""
    d = loads(raw)
    usage = Usage(d.get("prompt_tokens"), d.get("completion_tokens"), d.get("cached_tokens"),
                  d.get("reasoning_tokens"))
    parts = d.get("parts")
    return Message(d["role"], d["content"], d["created_at"], d.get("model"), d.get("status"),
                   usage, d["id"], d.get("hidden"), d.get("covers"), d.get("uid") or new_uid(),
                   None if parts is None else tuple(loads(parts)),
                   loads(d["fields"]) if d.get("fields") else {},
                   d.get("reasoning"), loads(d["meta"]) if d.get("meta") else {},
                   d.get("parent")), d.get("hidden_at")


def message_id(raw: str) -> int:
    return int(raw[6:raw.index(",")])  # every item starts with {"id":N,


def rewrites(found: dict[int, str], reason: str | None, now: float) -> list[str | int]:
    """The rewrite script's arguments to hide (or, with no ``reason``, unhide) the ``found``
    items, by position."""
    change = 0
    args: list[str | int] = []
    for position, raw in found.items():
        m, _ = decode(raw)
        if reason is None and m.hidden is not None:
            change += 1
        elif reason is not None and m.hidden is None:
            change -= 1
        new = encode(m.id or 0, replace(m, hidden=reason), None if reason is None else now)
        args += [position, hashlib.sha1(raw.encode()).hexdigest(), new,
                 "" if reason is None else repr(now)]
    return [change, *args]


def turn_signs(raw: str) -> dict[str, bool]:
    """What TurnCounter.step needs of a stored item, without decoding it: JSON escapes every
    quote inside a value, so '"role":"user"' and '"hidden":' can only be keys."""
    return {"user": '"role":"user"' in raw, "hidden": '"hidden":' in raw,
            "version": f'"hidden":"{UNDONE_EDIT}"' in raw}


REASONS = [  # redis-py's wording of socket errors -> what went wrong
    re.compile(r"^Error -?\d+ connecting to \S+?\. (.*)"),
    re.compile(r"^Error -?\d+ while writing to socket\. (.*)"),
    re.compile(r"^Error while reading from .*? ?: \(-?\d+, '(.*)'\)"),
]


def error_reason(text: str) -> str:
    """The gist of a redis-py error, on one line: 'Connection refused', not 'Error 111
    connecting to host:port. Connection refused.'"""
    for pattern in REASONS:
        found = pattern.match(text)
        if found:
            text = found.group(1)
            break
    return " ".join(text.split()).rstrip(".")


def info(h: dict[str, str]) -> ThreadInfo:
    deleted = h.get("deleted_at")
    return ThreadInfo(h["name"], h.get("model"), h.get("system"), float(h["created_at"]),
                      float(h["updated_at"]), int(h.get("count", 0)),
                      float(deleted) if deleted is not None else None,
                      stored_settings(h.get("settings")))


def may_match(raw: str, wanted: set[str]) -> bool:
    """A cheap test on the stored JSON that rules out most messages before decoding them."""
    if "\\u" in raw:  # non-ASCII content: fold the real text
        return all(w in words.fold(searchable(decode(raw)[0])) for w in wanted)
    low = raw.lower()
    return all(w in low for w in wanted)

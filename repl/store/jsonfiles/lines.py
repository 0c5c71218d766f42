"""A thread file as JSON Lines: a header line (the thread without its messages), then one line per
message, appended as it is saved. Older files (one JSON document, formats 1 and 2) read as they
are and are written as lines from then on.

A line is committed once its newline is on disk: a last line without one (a write cut short by a
kill or a full disk) is not part of the thread, and is never read as a message.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from repl.store.jsonfiles import codec
from repl.store.jsonfiles.names import FORMAT


def dumps(value: Any) -> bytes:
    """One line: JSON, never a raw newline inside (JSON escapes it), UTF-8 kept readable."""
    try:
        return (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (from a \ud800 escape): \u escapes keep it
        return (json.dumps(value) + "\n").encode("ascii")


def header(doc: dict[str, Any]) -> dict[str, Any]:
    """The header line of ``doc``: "format" first (what a reader checks), a new "rev" (which
    copy of the file this is: a rewrite gets another, so a cached reading is never mistaken
    for it), then the thread's fields."""
    rest = {k: v for k, v in doc.items() if k not in ("messages", "format", "rev")}
    return {"format": FORMAT, "rev": secrets.token_hex(8), **rest}


def whole(doc: dict[str, Any]) -> tuple[bytes, str]:
    """The whole file for ``doc``, and its rev."""
    head = header(doc)
    return dumps(head) + b"".join(map(dumps, doc["messages"])), head["rev"]


@dataclass
class Reading:
    """A file read up to ``offset`` (just after its last committed line): its document, and the
    rev of its header, so that what was appended since can be read on its own."""

    doc: dict[str, Any]
    rev: str | None  # None: an older, whole-document file (read whole every time)
    offset: int
    head: bytes = b""  # the header line, as it is in the file
    uids: set[str] = field(default_factory=set)  # of doc["messages"]

    def copy(self) -> dict[str, Any]:
        """The document, for a caller to change (its message list is its own)."""
        return {**self.doc, "messages": list(self.doc["messages"])}


def parse(raw: bytes) -> Reading:
    """The thread in ``raw`` (either format); ValueError if it is not one."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # a BOM an editor added
    end = raw.find(b"\n")
    first = _object(raw[start:end]) if end >= 0 else None
    if first is None or "messages" in first:  # one JSON document: formats 1 and 2
        try:
            value = json.loads(raw[start:])
        except RecursionError:  # nested too deeply to read back: damaged, as far as we can tell
            raise ValueError("it nests too deeply to be read") from None
        if isinstance(value, dict):
            _newer(value)
        doc = codec.check(value)
        return Reading(doc, None, len(raw), b"", {m["uid"] for m in doc["messages"]})
    _newer(first)
    reading = Reading({**first, "messages": []}, first.get("rev"), end + 1, raw[: end + 1])
    extend(reading, raw[end + 1:])
    codec.check(reading.doc)
    return reading


def extend(reading: Reading, tail: bytes) -> None:
    """Add the committed lines of ``tail`` (what follows ``reading.offset``) to ``reading``."""
    committed = tail[: tail.rfind(b"\n") + 1]
    doc = reading.doc
    for n, line in enumerate(committed.splitlines(), 1):
        m = _object(line)
        if m is None:
            raise ValueError(f"line {n} after the offset {reading.offset} is not a JSON object")
        codec.check({"name": "", "messages": [m]})
        doc["messages"].append(m)
        reading.uids.add(m["uid"])
        doc["updated_at"] = max(doc.get("updated_at") or 0.0, m.get("created_at") or 0.0)
    reading.offset += len(committed)


def _object(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _newer(doc: dict[str, Any]) -> None:
    if isinstance(doc.get("format"), int) and doc["format"] > FORMAT:
        raise NewerError(doc["format"])


class NewerError(Exception):
    """The file was written by a newer chatrepl: left alone, never rewritten."""

    def __init__(self, fmt: int) -> None:
        super().__init__(fmt)
        self.format = fmt

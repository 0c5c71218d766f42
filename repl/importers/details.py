"""A markdown export's details section (repl/export.py ``_extra``), read back: one line per
attachment, a text file's content in a fenced block, the message's other keys as fenced JSON.
A text file comes back whole; an image, a PDF or audio, whose bytes markdown does not hold, as a
note naming it (counted as left out)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from repl.importers.common import bounded_json
from repl.parts import ABSENT, marked, text_file_part
from repl.thread import Part

_LINE = re.compile(r"- (.+) \(([^()\n]*)\)")  # - cat.png (image/png, 40,968 bytes)
_FENCE = re.compile(r"(`{3,})(text|json)")


@dataclass(frozen=True, slots=True)
class Details:
    parts: list[Part] = field(default_factory=list)  # the attachments, as parts, in order
    fields: dict[str, Any] = field(default_factory=dict)
    left_out: Counter[str] = field(default_factory=Counter)


def read(extra: str, filename: str) -> Details:
    """The attachments and the other keys the details section ``extra`` holds."""
    lines = extra.split("\n")
    listed = len(lines) if all(x.startswith("- ") for x in lines) else \
        next(i for i, x in enumerate(lines) if not x.startswith("- "))
    files = [found.groups() for found in map(_LINE.fullmatch, lines[:listed]) if found]
    texts, blob = _blocks(lines[listed:])
    parts: list[Part] = []
    left_out: Counter[str] = Counter()
    for name, what in files:
        what = what.removesuffix(f", {ABSENT}")
        if what.split(",")[0] == "text" and texts:
            parts.append(text_file_part(name, texts.pop(0)))
            continue
        kind = _kind(what)
        left_out[kind] += 1
        note = {"type": "text", "text": f"[{_WORDS[kind]} not in the export: {name}]"}
        parts.append(marked(note, name, absent=what))
    return Details(parts, _fields(blob, filename) if blob is not None else {}, left_out)


def _blocks(lines: list[str]) -> tuple[list[str], str | None]:
    """The texts of the fenced ``text`` blocks, and the fenced ``json`` block's."""
    texts: list[str] = []
    blob = None
    i = 0
    while i < len(lines):
        found = _FENCE.fullmatch(lines[i])
        end = lines.index(found.group(1), i + 1) if found and found.group(1) in lines[i + 1:] \
            else -1
        if found is None or end < 0:
            i += 1
            continue
        body = "\n".join(lines[i + 1:end])
        if found.group(2) == "text":
            texts.append(body)
        else:
            blob = body
        i = end + 1
    return texts, blob


_WORDS = {"image": "image", "file": "file", "audio": "audio", "part": "attachment"}


def _kind(what: str) -> str:
    """The LEFT_OUT kind of an attachment described as ``what`` (its MIME type or kind)."""
    media = what.split(",")[0].strip()
    if media.startswith("image"):
        return "image"
    if media.startswith("audio"):
        return "audio"
    return "file" if media in ("file", "application/pdf") or "/" in media else "part"


def _fields(blob: str, filename: str) -> dict[str, Any]:
    """A message's other keys (tool calls, the call a result answers), from the JSON of its
    details."""
    try:
        value = bounded_json(blob, filename, "details")
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    # the section's text is the content: details never put another role or other parts in its
    # place (only a null content, as a tool call's message has, is carried)
    return {k: v for k, v in value.items() if k != "role" and (k != "content" or v is None)}

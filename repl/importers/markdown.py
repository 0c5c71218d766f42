"""chatrepl's own markdown export -> one thread, exactly as it was exported (see repl.export for
the format: a marker line before each section says what follows and how long it is)."""

from __future__ import annotations

import datetime
import json
import re
from collections import Counter
from dataclasses import replace

from repl.export import END_MARKER, MARKER, REASONING, status_line
from repl.importers import details
from repl.importers.common import ImportedThread, error
from repl.thread import SUMMARY, Message

_ROLES = ("user", "assistant", "tool", SUMMARY)
_MARKER_LINE = re.compile(r"<!-- chatrepl:([a-z_]+)((?: [a-z_]+=\"(?:[^\"\\]|\\.)*\")*) -->")
_ATTR = re.compile(r' ([a-z_]+)=("(?:[^"\\]|\\.)*")')


def has_markers(text: str) -> bool:
    return text.startswith(MARKER) or "\n" + MARKER in text


def from_markdown(text: str, filename: str) -> ImportedThread:
    if text.startswith("---\r\n"):
        text = text.replace("\r\n", "\n")  # the whole file went through a CRLF conversion
    meta, body_start = _front_matter(text)
    sections = _sections(text, body_start, filename)
    messages: list[Message] = []
    left_out: Counter[str] = Counter()
    for kind, attrs, content in sections:
        if kind == "message" and attrs.get("role") in _ROLES:
            messages.append(_md_message(attrs, content))
        elif kind == "message":
            left_out["role"] += 1
        elif kind == "reasoning" and messages:  # what the answer before it thought
            messages[-1] = replace(messages[-1], reasoning=_unfolded(content) or None)
        elif kind == "extra" and messages:  # the details of the message before it
            found = details.read(content, filename)
            messages[-1] = _with_details(messages[-1], found)
            left_out += found.left_out
    system, model, name = (meta.get(k) for k in ("system", "model", "thread"))
    return ImportedThread(name=name, system=system, model=model, messages=messages,
                          created_at=_timestamp(meta.get("created")), left_out=left_out)


def _unfolded(content: str) -> str:
    """A reasoning section's text: inside its <details> block (an older export has none)."""
    opening, closing = REASONING
    if content.startswith(opening) and content.endswith(closing):
        return content[len(opening):len(content) - len(closing)]
    return content


def _with_details(message: Message, found: details.Details) -> Message:
    """``message`` with its other keys and attachments: what was typed first, then each
    attachment as a part (a text file whole, another kind as a note naming it)."""
    parts = ({"type": "text", "text": message.content}, *found.parts) if found.parts else None
    return replace(message, fields=found.fields, parts=parts)


def _front_matter(text: str) -> tuple[dict[str, str], int]:
    """The string values of the front-matter block, and where the body starts."""
    if not text.startswith("---\n"):
        return {}, 0
    end = text.find("\n---\n", 3)
    if end < 0:
        return {}, 0
    meta: dict[str, str] = {}
    for line in text[4:end].split("\n"):
        key, _, raw = line.partition(": ")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip()  # a hand edit left it unquoted
        if isinstance(value, str):
            meta[key.strip()] = value
    return meta, end + 5


def _sections(text: str, start: int, filename: str) -> list[tuple[str, dict[str, str], str]]:
    """Each marked section as (kind, attributes, content), up to the end marker."""
    at = text.find(MARKER, start)
    while at > 0 and text[at - 1] != "\n":
        at = text.find(MARKER, at + 1)
    if at < 0:
        raise error(filename, f"has no {MARKER}message ...--> markers after its front matter")
    sections: list[tuple[str, dict[str, str], str]] = []
    while True:
        kind, attrs, at = _read_marker(text, at, filename)
        if kind == "end":
            return sections
        content, at = _read_content(text, _skip_heading(text, at), attrs, filename)
        sections.append((kind, attrs, content))


def _read_marker(text: str, at: int, filename: str) -> tuple[str, dict[str, str], int]:
    """The marker line at ``at``: its kind, its attributes and where the next line starts."""
    eol = text.find("\n", at)
    eol = len(text) if eol < 0 else eol
    match = _MARKER_LINE.fullmatch(text, at, eol)
    attrs = _attributes(match.group(2)) if match else None
    if match is None or attrs is None:
        line = text.count("\n", 0, at) + 1
        raise error(filename, f"has a chatrepl marker on line {line} that cannot be read")
    return match.group(1), attrs, eol + 1


def _attributes(source: str) -> dict[str, str] | None:
    try:
        return {key: json.loads(value) for key, value in _ATTR.findall(source)}
    except json.JSONDecodeError:
        return None


def _skip_heading(text: str, at: int) -> int:
    """Past the section's heading line and the blank line after it."""
    if text.startswith("#", at):
        eol = text.find("\n", at)
        at = len(text) if eol < 0 else eol + 1
        if text.startswith("\n", at):
            at += 1
    return at


def _read_content(text: str, at: int, attrs: dict[str, str],
                  filename: str) -> tuple[str, int]:
    """The content from ``at`` and where the next marker starts. ``chars`` says how long it is;
    if what follows is not a blank line (and the status line) and a marker, the file was edited
    by hand, and the content runs to the next marker line instead."""
    status = attrs.get("status")
    trailer = "\n\n" + (f"{status_line(status)}\n\n" if status else "")
    chars = attrs.get("chars", "")
    if chars.isdigit():
        end = at + int(chars)
        if text.startswith(trailer + MARKER, end):
            return text[at:end], end + len(trailer)
    newline = text.find("\n" + MARKER, at - 1)
    if newline < 0:
        raise error(filename, f"ends before its {END_MARKER} line (was it cut short?)")
    return text[at:newline].removesuffix(trailer[:-1]), newline + 1


def _md_message(attrs: dict[str, str], content: str) -> Message:
    covers = attrs.get("covers", "")
    return Message(attrs["role"], content, created_at=_timestamp(attrs.get("created")),
                   model=attrs.get("model"), status=attrs.get("status"),
                   covers=int(covers) if attrs["role"] == SUMMARY and covers.isdigit() else None)


def _timestamp(iso: str | None) -> float:
    try:
        return datetime.datetime.fromisoformat(iso).timestamp() if iso else 0.0
    except ValueError:
        return 0.0

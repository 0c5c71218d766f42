"""What every importer shares: the imported thread, the one-line format error, and the words for
what an import had to leave out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from repl.errors import ChatreplError
from repl.parts import typed
from repl.thread import PREFIX, Message, data_slot

EXPECTED = ('expected a JSON messages array ([{"role": ..., "content": ...}]), '
            "ChatGPT's conversations.json or a markdown export from chatrepl")

# What a thread cannot hold yet, by kind, in the order a report names them: (one, many).
LEFT_OUT = {
    "tool_call": ("tool call", "tool calls"),
    "tool_result": ("tool result", "tool results"),
    "image": ("image part", "image parts"),
    "audio": ("audio part", "audio parts"),
    "file": ("file part", "file parts"),
    "part": ("part of another kind", "parts of other kinds"),
    "refusal": ("refusal", "refusals"),
    "reasoning": ("reasoning message", "reasoning messages"),
    "other": ("non-text message", "non-text messages"),
    "system": ("system message after the conversation began",
               "system messages after the conversation began"),
    "role": ("message with an unknown role", "messages with an unknown role"),
    "empty": ("message without content", "messages without content"),
    "reference": ("attachment naming stored bytes instead of holding them",
                  "attachments naming stored bytes instead of holding them"),
}


# How deep a file's JSON may nest: chatrepl's own threads nest a dozen levels at most, and what a
# store writes it must read back (Python's JSON reader stops near a thousand).
MAX_DEPTH = 64


def too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON) nests deeper than ``limit`` lists and objects."""
    level: list[object] = [value]
    for _ in range(limit + 1):
        level = [child for item in level if isinstance(item, (list, dict))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return True


def bounded_json(text: str, filename: str, what: str = "") -> object:
    """``text`` parsed (json.JSONDecodeError as json.loads raises it), or the one-line error
    of a file nesting deeper than MAX_DEPTH (what a store writes, it must read back).
    ``what``: the part of the file it is, for the error (the whole file when empty)."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
    else:
        if not too_deep(value):
            return value
    subject = f"has {what} nested" if what else "nests"
    raise error(filename, f"{subject} deeper than {MAX_DEPTH} levels, which no conversation "
                          "does")


class ImportFormatError(ChatreplError):
    """A file that cannot be read, is not in a format chatrepl can import, or is damaged."""


@dataclass(frozen=True, slots=True)
class ImportedThread:
    name: str | None  # suggested from the file's metadata or title; None if it has none
    system: str | None
    model: str | None
    # roles "user", "assistant" and "summary"; a summary's ``covers`` is not an id but how many
    # of the other messages, from the first, it stands for (the store gives the ids)
    messages: list[Message] = field(default_factory=list)
    created_at: float = 0.0
    left_out: Counter[str] = field(default_factory=Counter)  # LEFT_OUT kind -> how many


def error(filename: str, problem: str) -> ImportFormatError:
    """One line: what is wrong with which file, and what would have been understood."""
    message = f"{filename or 'the file'} {problem}; {EXPECTED}"
    return ImportFormatError(" ".join(message.split()))


def counted(n: int, one: str, many: str | None = None) -> str:
    """``1 thread``, ``2 threads``: the number and the word that agrees with it."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def describe_left_out(left_out: Counter[str]) -> str:
    """``2 tool calls, 1 image part``: what was left out, in LEFT_OUT's order ('' if nothing)."""
    return ", ".join(counted(left_out[kind], *words) for kind, words in LEFT_OUT.items()
                     if left_out[kind] > 0)


def without_references(thread: ImportedThread) -> ImportedThread:
    """``thread`` without the parts that name a store's bytes (``chatrepl-blob:...``) rather
    than hold them: a file brings its attachments' bytes, so such a part names bytes of some
    other store, or a path (a crafted file). Each one is counted as left out."""
    dropped = 0
    messages = []
    for m in thread.messages:
        parts = _kept(m.parts) if m.parts is not None else None
        listed = m.fields.get("content")
        content = _kept(listed) if isinstance(listed, list) else None
        lost = (len(m.parts or ()) - len(parts or ())) + \
            (len(listed) - len(content or ()) if isinstance(listed, list) else 0)
        if lost:
            fields = {**m.fields, "content": list(content or ())} if content is not None \
                else m.fields
            m = replace(m, parts=parts, fields=fields,
                        content=typed(parts) if parts is not None else m.content)
            dropped += lost
        messages.append(m)
    if not dropped:
        return thread
    return replace(thread, messages=messages,
                   left_out=thread.left_out + Counter(reference=dropped))


def _kept(parts: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    return tuple(p for p in parts if not _names_bytes(p))


def _names_bytes(part: object) -> bool:
    """Whether ``part`` is an attachment whose data is a reference (or looks like one)."""
    found = data_slot(part) if isinstance(part, Mapping) else None
    return found is not None and found[2].lstrip().startswith(PREFIX)

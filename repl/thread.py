"""Pure data: messages, threads and the rules for thread names. No I/O."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from repl.errors import ThreadError

MAX_NAME = 64

# Status of an assistant message that did not end normally.
INTERRUPTED = "interrupted"  # the user pressed Ctrl-C or the process was told to stop
ERROR = "error"  # the request failed after some text arrived
TRUNCATED = "truncated"  # the server stopped for length, or the stream ended without a finish

# Why a message was taken out of the conversation (it stays stored, and searchable).
REPLACED = "replaced"  # /retry asked for another answer
UNDONE = "undone"  # /undo took the exchange back (/redo returns it)
EDITED = "edited"  # /edit sent a new version of the question

SUMMARY = "summary"  # the role of a /compact summary, sent instead of the messages it covers


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "user" | "assistant" | "system"
    content: str
    created_at: float = 0.0
    model: str | None = None
    status: str | None = None  # None when complete; else INTERRUPTED, ERROR or TRUNCATED
    usage: Usage = field(default_factory=Usage)
    id: int | None = None
    hidden: str | None = None  # None while part of the conversation; else REPLACED, UNDONE...
    covers: int | None = None  # for a SUMMARY: the id of the last message it stands for

    def for_api(self) -> dict[str, str]:
        if self.role == SUMMARY:
            return {"role": "system",
                    "content": f"Summary of the earlier conversation:\n\n{self.content}"}
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    name: str
    model: str | None = None
    system: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    message_count: int = 0
    deleted_at: float | None = None  # set while the thread is in the trash


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: where it is, and a snippet with the matches between HIGHLIGHT marks."""

    thread: str
    message_id: int
    role: str
    snippet: str
    turn: int  # the number of the user message it belongs to, from 1
    created_at: float
    hidden: str | None = None  # set when the message was taken out of the conversation


HIGHLIGHT = ("\ue000", "\ue001")  # private-use characters: no text from a model contains them


def validate_name(raw: str) -> str:
    """Return the thread name ``raw`` stands for, or raise ThreadError saying why it is refused.

    Names are stored in the database, never used as paths, but they are also typed, completed,
    shown and used as default export file names, so they are kept printable and path-safe."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise ThreadError("a thread name cannot be empty")
    if len(name) > MAX_NAME:
        raise ThreadError(f"a thread name is at most {MAX_NAME} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise ThreadError("a thread name cannot contain control or formatting characters")
    if "/" in name or "\\" in name:
        raise ThreadError("a thread name cannot contain / or \\")
    if name.startswith((".", "-")):
        raise ThreadError("a thread name cannot start with '.' or '-'")
    return name

"""What every importer shares: the imported thread, the one-line format error, and the words for
what an import had to leave out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from repl.errors import ChatreplError
from repl.thread import Message

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
    "empty": ("empty message", "empty messages"),
}


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

"""/include: another thread's conversation as a text attachment of the next message, read when
the message is sent (its visible turns up to TURN; a /compact summary in place of the turns it
covers). The part is a text file's (parts.text_file_part), marked with the thread and its turns,
so it is stored, shown, searched, exported and carried by /edit as any attachment is."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from repl.attachments import AttachError, Attachment, NotSentError
from repl.config import AttachLimits
from repl.parts import Shown, human_size, thread_part, turns_said
from repl.thread import SUMMARY, Message, ThreadInfo, turn_starts


class Reading(Protocol):
    """What including reads of the store."""

    def get(self, name: str) -> ThreadInfo | None: ...

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]: ...


@dataclass(frozen=True, slots=True)
class Include:
    """Thread ``thread`` (up to turn ``turn``, else all of it), staged for the next message."""

    thread: str
    turn: int | None = None

    @property
    def label(self) -> str:
        return f"thread {self.thread}"


def chosen(messages: list[Message], turn: int | None) -> tuple[list[Message], int]:
    """The messages of the conversation up to ``turn`` (all without it) as they are included,
    a summary standing for the turns it covers, and how many turns that is."""
    starts = turn_starts(messages)
    end = starts[turn] if turn is not None and turn < len(starts) else len(messages)
    kept = messages[:end]
    summaries = [m for m in kept if m.role == SUMMARY and m.covers is not None]
    summary = summaries[-1] if summaries else None
    if summary is not None:
        covers = summary.covers or 0
        kept = [summary, *(m for m in kept if m.role != SUMMARY and (m.id or 0) > covers)]
    turns = min(turn, len(starts)) if turn is not None else len(starts)
    return [m for m in kept if m.role in ("user", "assistant", SUMMARY)
            and (m.content.strip() or m.role == SUMMARY)], turns


def transcript(name: str, messages: list[Message], turns: int) -> str:
    """The text the model is given: who said what, in order."""
    said = {"user": "user", "assistant": "assistant", SUMMARY: "summary of the earlier turns"}
    head = f'The conversation of the chatrepl thread "{name}" ({turns_said(turns)}):'
    return "\n\n".join([head, *(f"{said[m.role]}:\n{m.content.strip()}" for m in messages)])


def load(store: Reading, include: Include, limits: AttachLimits) -> Attachment:
    """``include``'s thread read now, as the part it is sent as; AttachError if it is gone,
    empty or over the size limit of text files."""
    if store.get(include.thread) is None:
        raise AttachError(f"no thread named {include.thread!r} to include (renamed or deleted "
                          "since /include?)")
    messages, turns = chosen(store.messages(include.thread), include.turn)
    if not messages:
        raise AttachError(f"thread {include.thread!r} has nothing to include yet")
    data = transcript(include.thread, messages, turns).encode()
    limit = round(limits.text_mb * 1_000_000)
    if len(data) > limit:
        raise AttachError(f"thread {include.thread!r} is {human_size(len(data))}, over the "
                          f"{human_size(limit)} limit for text ([attach] text_mb in "
                          "config.toml): /include NAME TURN includes fewer turns")
    part = thread_part(include.label, include.thread, turns, data.decode())
    return Attachment(Shown(include.label, turns_said(turns), len(data)), part,
                      hashlib.sha256(data).hexdigest())


def load_all(store: Reading, included: Sequence[Include],
             limits: AttachLimits) -> list[Attachment]:
    """Every included thread, read now; NotSentError at the first that cannot be."""
    try:
        return [load(store, include, limits) for include in included]
    except AttachError as e:
        raise NotSentError(str(e)) from None

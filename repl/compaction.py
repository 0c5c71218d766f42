"""/compact's summary request, bounded and fitted: the most tokens a summary may take, the
messages it summarises fitted into the window beside that room (the oldest left out when they
cannot be), and whether a summary is worth keeping: shorter than what it replaces. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from repl import window
from repl.thread import Message

SYSTEM = ("You condense conversations so that they can go on without the original messages. "
          "Keep the facts, decisions, names, numbers, code identifiers, open questions and "
          "anything the user asked to be remembered; leave out pleasantries and repetition; "
          "add nothing that was not said. Be much shorter than the conversation.")
SUMMARISE = ("Summarise our conversation so far for your own later use: the facts, decisions, "
             "open questions and anything I asked you to remember, concisely. Reply with the "
             "summary only.")

SHARE = 8  # by default a summary may take an eighth of the window...
MOST = 4_096  # ...at most this many tokens, and at least
LEAST = 64
UNKNOWN_WINDOW = 1_024  # the bound when the window is unknown
DEFAULT = f"an eighth of the window, {LEAST}-{MOST:,} tokens"  # said by /set


def bound(size: int | None, settings: Mapping[str, Any]) -> int:
    """The most tokens a summary may take: ``compact_tokens`` when set, else a share of the
    window ``size``, no more than the request's ``max_tokens``."""
    chosen = settings.get("compact_tokens")
    if isinstance(chosen, int) and chosen > 0:
        return chosen
    share = min(max(size // SHARE, LEAST), MOST) if size else UNKNOWN_WINDOW
    cap = settings.get("max_tokens")
    return min(share, cap) if isinstance(cap, int) and cap > 0 else share


@dataclass(frozen=True)
class Request:
    """What a summary request sends, and what the summary will stand for."""

    messages: list[dict[str, Any]]  # attachments as the store's references: expand them
    summarised: int  # messages sent to be summarised (an earlier summary not counted)
    left_out: int  # the oldest ones, which did not fit beside the summary's room
    replaced: int  # tokens (estimated) of what the summary is sent instead of, as sent now
    limit: int  # the most tokens the summary may take


def request(older: Sequence[Message], *, size: int | None, scale: float,
            limit: int) -> Request:
    """The request that summarises ``older`` (everything the summary will cover) within a
    window of ``size`` tokens, ``limit`` of them kept for the summary."""
    system = [{"role": "system", "content": SYSTEM}]
    plan = window.plan(system, [*older, Message("user", SUMMARISE)], limit=size,
                       reserve=limit, scale=scale)
    replaced = sum(map(window.estimate, window.conversation(older)))
    return Request(plan.messages, len(plan.messages) - 2, plan.dropped, replaced, limit)


def tokens(summary: str) -> int:
    """A summary's size, estimated as the messages it replaces are."""
    return window.estimate({"role": "system", "content": summary})

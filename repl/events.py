"""What a streamed answer yields, on either API: text and reasoning as they arrive, one Done,
and lines for the user (a retry, a switch of API, a replay)."""

from __future__ import annotations

from dataclasses import dataclass

from repl.replay import Replay
from repl.thread import Usage
from repl.toolcalls import ToolCall


@dataclass(frozen=True, slots=True)
class Delta:
    text: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class Done:
    finish_reason: str | None  # None: the stream ended without saying why (cut short)
    usage: Usage
    model: str | None
    # the answer's tool calls, assembled from their fragments, on both APIs
    tool_calls: tuple[ToolCall, ...] = ()
    # the exchange as the Responses API had it (kept in Message.meta); None on chat completions
    replay: Replay | None = None


@dataclass(frozen=True, slots=True)
class Retrying:
    """The request failed before any answer arrived; it is sent again after ``delay`` s."""

    reason: str
    delay: float

    def __str__(self) -> str:
        when = f"in {self.delay:g} s" if self.delay else "now"
        return f"{self.reason}, retrying {when}..."


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the client decided by itself that the user should know, in one line: a model
    moved to the Responses API, a thread replayed in full."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Calling:
    """The answer's tool calls as far as they have arrived (Done has them whole): kept if the
    answer is cut short, each with the arguments it had."""

    calls: tuple[ToolCall, ...]


Event = Delta | Done | Retrying | Notice | Calling

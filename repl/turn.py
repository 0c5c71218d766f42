"""One request, decided once: the thread as read for it, the endpoint, model and client, the
settings it is sent with, and the window it is fitted to (what was learned of it, and under which
key). chat.py, the tool loop, /tokens and the bar read a Turn; nothing in a turn asks the session
again. ``plan`` is the one way the next request is planned, whoever asks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from repl import prices, window, wire
from repl.config import Endpoint
from repl.export import system_head
from repl.thread import Message, ThreadInfo

if TYPE_CHECKING:
    from repl.client import ChatClient


@dataclass(frozen=True, slots=True)
class Turn:
    """``configured``: the window configured for the model, stated by its endpoint or known to
    chatrepl; ``fit``: what servers showed of it (window.Fit), read once for the request.
    ``client`` is None for a turn only looked at (/tokens, the bar): having one may run the
    endpoint's key command, which only sending does."""

    thread: ThreadInfo
    endpoint: Endpoint
    model: str
    shown: str  # endpoint:model, as the bar and /model show it
    settings: Mapping[str, Any]  # the request settings, by chatrepl's names
    window_key: str
    configured: int | None
    fit: window.Fit
    price: prices.Price | None  # US$ per million tokens (input, output), where known
    client: ChatClient | None = None

    @property
    def name(self) -> str:
        return self.thread.name

    @property
    def limit(self) -> int | None:
        """The window the request is fitted into: the server's where it showed one."""
        return self.fit.window(self.configured)

    @property
    def head(self) -> list[dict[str, str]]:
        return system_head(self.thread)

    @property
    def wire_key(self) -> str:
        return wire.state_key(self.model, self.endpoint.base_url)

    @property
    def sender(self) -> ChatClient:
        """The client the request goes out on (a turn made to be sent has one)."""
        if self.client is None:
            raise RuntimeError("this turn was resolved to be looked at, not sent")
        return self.client


def plan(turn: Turn, history: Sequence[Message], *, fit: window.Fit | None = None
         ) -> window.Plan:
    """The next request of ``turn``: ``history`` (its last message the question) fitted into
    the turn's window at its calibrated scale, or into what ``fit`` (a guess after a refusal)
    suggests."""
    fit = fit or turn.fit
    sized = window.sized(turn.head, history, scale=fit.scale)
    return window.fit(sized, limit=fit.window(turn.configured))


def measure(turn: Turn, history: Sequence[Message]) -> window.Sized:
    """``history`` measured once for ``turn``, so that a question still being typed can be
    planned after it (``window.fit(..., last=...)``) without measuring the thread again."""
    return window.sized(turn.head, history, scale=turn.fit.scale)

"""A thread's own settings, typed (ThreadSettings): chatrepl's fields (its endpoint, preset,
self-naming, tool choices, where it was forked from) apart from the request settings it sends
(temperature, effort...). Stores keep them as one flat JSON object, as they always have: read
and written here only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

ENDPOINT, PRESET, AUTO_NAME, TITLED_FROM = "endpoint", "preset", "auto_name", "titled_from"
TOOLS, TOOLS_ALLOWED, FORKED_FROM = "tools", "tools_allowed", "forked_from"
OWN = (ENDPOINT, PRESET, AUTO_NAME, TITLED_FROM, TOOLS, TOOLS_ALLOWED, FORKED_FROM)  # never sent


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a thread was forked from: the thread (followed when it is renamed) and the turn it
    was copied up to (stored as ``{"thread": NAME, "turn": N}``)."""

    thread: str
    turn: int

    @classmethod
    def of(cls, raw: object) -> Origin | None:
        thread = raw.get("thread") if isinstance(raw, Mapping) else None
        turn = raw.get("turn") if isinstance(raw, Mapping) else None
        if not isinstance(thread, str) or not thread or not isinstance(turn, int) \
                or isinstance(turn, bool):
            return None
        return cls(thread, turn)


@dataclass(frozen=True, slots=True)
class ThreadSettings:
    endpoint: str | None = None  # the thread's endpoint; None: the default one
    preset: str | None = None  # applied by /preset: its settings apply under the thread's own
    auto_name: bool = False  # named by /new after the date: named after its first exchange
    titled_from: str | None = None  # the uid of the question its name was made from
    tools: Mapping[str, bool] = field(default_factory=dict)  # "server" or "server.tool": on?
    tools_allowed: tuple[str, ...] = ()  # "server.tool" run without asking, in this thread
    forked_from: Origin | None = None  # set by /fork (threads forked before have none)
    # the request settings by chatrepl's names (config.SETTINGS), and any key this version
    # does not know, kept as it was
    request: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> ThreadSettings:
        """The settings a store's JSON object holds (a value of the wrong type reads as unset)."""
        tools, allowed = raw.get(TOOLS), raw.get(TOOLS_ALLOWED)
        return cls(
            endpoint=_text(raw.get(ENDPOINT)), preset=_text(raw.get(PRESET)),
            auto_name=raw.get(AUTO_NAME) is True, titled_from=_text(raw.get(TITLED_FROM)),
            tools={k: v for k, v in tools.items() if isinstance(k, str) and isinstance(v, bool)}
            if isinstance(tools, Mapping) else {},
            tools_allowed=tuple(n for n in allowed if isinstance(n, str))
            if isinstance(allowed, list) else (),
            forked_from=Origin.of(raw.get(FORKED_FROM)),
            request={k: v for k, v in raw.items() if k not in OWN})

    def stored(self) -> dict[str, Any]:
        """As a store keeps them: one flat JSON object, without what is unset."""
        own: dict[str, Any] = {ENDPOINT: self.endpoint, PRESET: self.preset,
                               AUTO_NAME: self.auto_name or None, TITLED_FROM: self.titled_from,
                               TOOLS: dict(self.tools) or None,
                               TOOLS_ALLOWED: list(self.tools_allowed) or None,
                               FORKED_FROM: {"thread": self.forked_from.thread,
                                             "turn": self.forked_from.turn}
                               if self.forked_from else None}
        return {**{k: v for k, v in self.request.items() if v is not None},
                **{k: v for k, v in own.items() if v is not None}}

    def with_request(self, key: str, value: Any) -> ThreadSettings:
        """The request setting ``key`` set to ``value`` (a JSON value; None unsets it)."""
        if key in OWN:  # a field of its own: set by name, typed
            raise KeyError(f"{key} is not a request setting")
        request = {k: v for k, v in self.request.items() if k != key}
        if value is not None:
            request[key] = value
        return replace(self, request=request)

    def named_by_user(self) -> ThreadSettings:
        """A thread the user named: never named again, its name made from no question."""
        return replace(self, auto_name=False, titled_from=None)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

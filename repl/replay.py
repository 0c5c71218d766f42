"""An answer's record of its Responses API exchange, typed (Replay): what the stream reader makes
of a response, the answer keeps (as JSON in Message.meta, the one place it is read and written)
and the next request replays or chains from. Pure data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RESPONSES = "responses"  # the API of every Replay so far


@dataclass(frozen=True, slots=True)
class Replay:
    stored: bool = False  # the server keeps the response (store: true): it may be chained from
    context: str = ""  # a hash of what the request sent (responses.context)
    # the endpoint that produced it, as responses.origin writes it: only it is sent the
    # reasoning again, and only its responses are chained from
    endpoint: str = ""
    response_id: str | None = None
    output: tuple[Mapping[str, Any], ...] = ()  # the response's output items, verbatim
    api: str = RESPONSES

    def meta(self) -> dict[str, Any]:
        """As Message.meta keeps it (the keys stores have always held)."""
        meta: dict[str, Any] = {"api": self.api, "stored": self.stored, "context": self.context,
                                "endpoint": self.endpoint}
        if self.response_id is not None:
            meta["response_id"] = self.response_id
        if self.output:
            meta["output"] = [dict(item) for item in self.output]
        return meta

    @classmethod
    def of(cls, meta: Mapping[str, Any]) -> Replay | None:
        """The Replay an answer's meta holds (None for an answer from chat completions, or
        one imported); a value of the wrong type reads as missing."""
        if not isinstance(meta.get("api"), str):
            return None
        output, rid = meta.get("output"), meta.get("response_id")
        return cls(stored=meta.get("stored") is True, context=_text(meta.get("context")),
                   endpoint=_text(meta.get("endpoint")),
                   response_id=rid if isinstance(rid, str) else None,
                   output=tuple(dict(item) for item in output if isinstance(item, Mapping))
                   if isinstance(output, list) else (), api=meta["api"])


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


Replays = Sequence["Replay | None"]  # beside a request's messages: replays[i] is messages[i]'s


def at(replays: Replays, index: int) -> Replay | None:
    """The Replay of the message at ``index`` (None past the end: none)."""
    return replays[index] if 0 <= index < len(replays) else None

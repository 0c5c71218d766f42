"""A tool call, typed: what the stream readers assemble, the store keeps (as the API's
``tool_calls`` entries, verbatim), the tool loop runs and the screen shows. Pure data, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str  # what its result names (``tool_call_id``)
    name: str  # the function the model called, as it spelled it
    arguments: str  # the JSON text the model wrote, as it wrote it (it may not parse)

    def for_api(self) -> dict[str, Any]:
        """The call as a chat completions message holds it (and the store keeps it)."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def parse(cls, raw: object) -> ToolCall | None:
        """A ``tool_calls`` entry as the API (or an import, or an older store) has it, None if
        it is not an object. One without a function (another type of call) has no name, yet
        its id still needs an answer."""
        if not isinstance(raw, Mapping):
            return None
        function = raw.get("function")
        function = function if isinstance(function, Mapping) else {}
        name, arguments, id_ = function.get("name"), function.get("arguments"), raw.get("id")
        return cls(id_ if isinstance(id_, str) else "", name if isinstance(name, str) else "",
                   arguments if isinstance(arguments, str) else "")


def parse_all(raw: object) -> tuple[ToolCall, ...]:
    """The calls of a ``tool_calls`` value (what is not an object in it is skipped)."""
    found = (ToolCall.parse(item) for item in raw) if isinstance(raw, list | tuple) else ()
    return tuple(call for call in found if call is not None)


def api_fields(calls: Iterable[ToolCall]) -> dict[str, Any]:
    """An assistant message's fields for ``calls``: ``{"tool_calls": [...]}``, or none."""
    listed = [call.for_api() for call in calls]
    return {"tool_calls": listed} if listed else {}

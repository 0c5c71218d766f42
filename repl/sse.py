"""A tolerant server-sent-events reader for chat streams.

The SDK's own decoder raises a bare JSONDecodeError on legal SSE that relays send (an empty
``data:`` keep-alive, a block holding only ``id:`` or ``retry:``) and silently drops llama.cpp's
non-standard ``error:`` field, losing the error. This reader follows the SSE rules: comments and
unknown fields are skipped, ``data`` lines join, a blank line ends an event, and a last event
without its blank line still counts. ``error:`` lines become ``error`` events.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator


async def events(lines: AsyncIterable[str]) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) for every event that carries data; the name is "message" by default."""
    name = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield name or "message", "\n".join(data)
            name, data = "", []
            continue
        if line.startswith(":"):
            continue  # a comment: a keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "error":
            yield "error", value
    if data:
        yield name or "message", "\n".join(data)

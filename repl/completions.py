"""Chat completions' streamed chunks read: text, reasoning and tool calls wherever servers put
them (docs/servers.md, "What a streamed chat completion may hold"), and the usage they report."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from repl.apierrors import empty_answer, stream_error
from repl.continuation import CONTINUE_FINAL
from repl.events import Calling, Delta, Done, Event
from repl.thread import Usage
from repl.toolcalls import ToolCall

# chatrepl's request settings -> the chat completions field each is sent as
REQUEST_SETTINGS = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens",
                    "seed": "seed", "effort": "reasoning_effort"}


def request_options(settings: Mapping[str, Any], tools: Sequence[Mapping[str, Any]], *,
                    openai: bool = False) -> dict[str, Any]:
    """The chat completions request fields for ``settings`` (unknown names are not sent) and
    ``tools``. On ``openai``'s platform the output limit is max_completion_tokens (its
    reasoning models refuse max_tokens)."""
    options = {REQUEST_SETTINGS[k]: v for k, v in settings.items()
               if k in REQUEST_SETTINGS and v is not None}
    if openai and "max_tokens" in options:
        options["max_completion_tokens"] = options.pop("max_tokens")
    if tools:
        options["tools"] = [dict(t) for t in tools]
    if settings.get(CONTINUE_FINAL):  # /continue on vLLM: its final assistant message goes on
        options["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
    return options


def json_object(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def first_choice(chunk: dict[str, Any]) -> dict[str, Any]:
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def delta(choice: dict[str, Any]) -> Delta | None:
    """The text and reasoning a choice carries, if any (docs/servers.md, points 2 to 4)."""
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        return None
    text = delta.get("content")
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    text = text if isinstance(text, str) else ""
    reasoning = reasoning if isinstance(reasoning, str) else ""
    return Delta(text, reasoning) if text or reasoning else None


class ToolCalls:
    """Streamed tool calls put together (docs/servers.md, tool calls): a call's first fragment has
    its ``index``, ``id`` and ``function.name``, later ones pieces of ``function.arguments``
    under the same index."""

    def __init__(self) -> None:
        self._calls: dict[int, ToolCall] = {}

    def feed(self, delta: object) -> bool:
        """Take in the fragments ``delta`` holds; whether it held any."""
        fragments = delta.get("tool_calls") if isinstance(delta, dict) else None
        fed = False
        for position, fragment in enumerate(fragments if isinstance(fragments, list) else []):
            if isinstance(fragment, dict):
                index = fragment.get("index")
                self._merge(index if isinstance(index, int) else position, fragment)
                fed = True
        return fed

    def _merge(self, index: int, fragment: dict[str, Any]) -> None:
        empty = ToolCall("", "", "")
        call = self._calls.get(index, empty)
        piece = ToolCall.parse(fragment) or empty
        self._calls[index] = ToolCall(piece.id or call.id, call.name or piece.name,
                                      call.arguments + piece.arguments)

    def done(self) -> tuple[ToolCall, ...]:
        """The calls in index order; one the server gave no id gets one, so its result can
        name it."""
        calls = [self._calls[i] for i in sorted(self._calls)]
        return tuple(replace(call, id=call.id or f"call_{n}") for n, call in enumerate(calls))


def usage(raw: object) -> Usage | None:
    """Usage as chat completions reports it, with the cached and reasoning counts OpenAI gives
    in ``prompt_tokens_details`` and ``completion_tokens_details``."""
    if not isinstance(raw, dict):
        return None
    return Usage(count(raw, "prompt_tokens"), count(raw, "completion_tokens"),
                 count(raw, "prompt_tokens_details", "cached_tokens"),
                 count(raw, "completion_tokens_details", "reasoning_tokens"))


def count(raw: dict[str, Any], *path: str) -> int | None:
    """The whole number at ``path`` in ``raw`` (None if missing or not a number)."""
    value: object = raw
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def events(chunks: AsyncIterator[tuple[str, dict[str, Any]]],
                 said_done: Callable[[], bool]) -> AsyncIterator[Event]:
    """The (event name, chunk) pairs of a streamed answer as events (docs/servers.md, points 1 to
    7); ``said_done``: whether the body ended with ``[DONE]``, asked once it has ended."""
    finish: str | None = None
    found, model, received = Usage(), None, 0
    calls = ToolCalls()
    async for name, chunk in chunks:
        received += 1
        error = stream_error(name, chunk)
        if error:
            raise error
        model = chunk.get("model") or model
        found = usage(chunk.get("usage")) or found
        choice = first_choice(chunk)
        text = delta(choice)
        if text:
            yield text
        if calls.feed(choice.get("delta")):
            yield Calling(calls.done())
        finish = choice.get("finish_reason") or finish
    if received == 0:
        raise empty_answer(said_done())
    yield Done(finish, found, model, calls.done())

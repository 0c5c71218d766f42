"""The OpenAI-compatible streaming client: the SDK's chunks become events, its errors ours.

The ``openai`` package is imported once the prompt is drawn (``warm``, in a thread) or on first
use, never on the way to the prompt. The SDK's own retries are off (``max_retries=0``): this
client retries transient failures itself, at most ``retries`` times and only while no answer has
arrived, yielding a ``Retrying`` event before each wait so the caller can say so. Stalls are ended
by our own deadline, because keep-alive comments reset the SDK's read timeout forever.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from repl import sse
from repl.apierrors import map_error, redact, stream_error
from repl.errors import (
    ApiError,
    BadRequestError,
    ConnectionFailedError,
    EmptyAnswerError,
    NoKeyError,
    RateLimitError,
    ServerError,
    TimedOutError,
)
from repl.thread import Usage

# Local OpenAI-compatible servers worth suggesting when no API key is set.
LOCAL_SERVERS: tuple[tuple[int, str], ...] = ((11434, "Ollama"), (1234, "LM Studio"),
                                              (8080, "llama.cpp"), (8000, "vLLM"))
MAX_WAIT = 20.0  # seconds: a server asking for a longer wait is not retried (the error says it)


@dataclass(frozen=True, slots=True)
class Delta:
    text: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class Done:
    finish_reason: str | None  # None: the stream ended without saying why (cut short)
    usage: Usage
    model: str | None
    # the answer's tool calls, assembled from their fragments, as the API's messages hold them
    tool_calls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Retrying:
    """The request failed before any answer arrived; it is sent again after ``delay`` s."""

    reason: str
    delay: float

    def __str__(self) -> str:
        when = f"in {self.delay:g} s" if self.delay else "now"
        return f"{self.reason}, retrying {when}..."


Event = Delta | Done | Retrying


def find_local_server(ports: Sequence[tuple[int, str]] = LOCAL_SERVERS) -> tuple[int, str] | None:
    for port, label in ports:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                return port, label
        except OSError:
            continue
    return None


class ChatClient:
    def __init__(self, *, api_key: str | None, base_url: str | None, timeout: float,
                 retries: int = 2, backoff: float = 1.0,
                 local_servers: Sequence[tuple[int, str]] = LOCAL_SERVERS,
                 headers: Mapping[str, str] | None = None) -> None:
        self.api_key = api_key
        self.headers = dict(headers or {})  # sent with every request (an endpoint's headers)
        self.base_url = base_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff  # the first wait, in seconds; each next one doubles
        self._local_servers = local_servers
        self._sdk: Any = None
        self._used = False  # the SDK client has connections that a request may reuse
        self._stream_options = True

    def _client(self) -> Any:
        if self._sdk is None:
            if not self.api_key and not self.base_url:
                raise NoKeyError(self._no_key_message())
            import openai

            self._sdk = openai.AsyncOpenAI(
                # Local servers need no key, but the SDK insists on one.
                api_key=self.api_key or "no-key-needed",
                base_url=self.base_url,
                max_retries=0, default_headers=self.headers or None,
                # our own deadline (see stream) ends stalls; the SDK's only backs it up
                timeout=openai.Timeout(self.timeout + 5, connect=min(self.timeout, 10.0)),
            )
        return self._sdk

    def sdk(self) -> Any:
        """The SDK's client (built now if need be): for the endpoint's other GET requests."""
        return self._client()

    @property
    def ready(self) -> bool:
        """The SDK is imported and its client built: the next request starts at once."""
        return self._sdk is not None

    async def warm(self) -> None:
        """Import the SDK (in a thread) and build its client, so the first message does not wait
        for them. Never raises; without a key it does nothing (sending reports it)."""
        if self._sdk is not None or (not self.api_key and not self.base_url):
            return
        try:
            await asyncio.to_thread(_import_sdk)
            _ = self._client().chat.completions  # a lazy attribute: built here, once
        except Exception:  # a convenience only: the first message builds it, or says why not
            return

    async def aclose(self) -> None:
        """Close the connection pool while the event loop still runs."""
        if self._sdk is not None:
            sdk, self._sdk, self._used = self._sdk, None, False
            await sdk.close()

    def _no_key_message(self) -> str:
        text = "no API key: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)"
        found = find_local_server(self._local_servers)
        if found:
            port, label = found
            text += (f"; a server answers on localhost:{port} ({label}): "
                     f"OPENAI_BASE_URL=http://localhost:{port}/v1 chatrepl")
        return text

    async def stream(self, messages: list[dict[str, Any]], model: str, *,
                     settings: Mapping[str, Any] | None = None,
                     tools: Sequence[Mapping[str, Any]] = ()) -> AsyncIterator[Event]:
        """Stream one answer: Delta events, then exactly one Done, with a Retrying event before
        each automatic retry. Raises ApiError (``partial`` if some answer had arrived).
        ``settings``: chatrepl's request settings by name (REQUEST_SETTINGS); ``tools``: function
        tools as chat completions has them ({"type": "function", "function": {...}})."""
        options = request_options(settings or {}, tools)
        tries, reconnected = 0, False
        while True:
            arrived: list[bool] = []
            try:
                async for event in self._attempt(messages, model, options, arrived):
                    yield event
                return
            except ApiError as e:
                error = e
            if arrived:
                error.partial = True
                raise error
            if isinstance(error, ConnectionFailedError):
                reused = self._used
                await self.aclose()  # a dead pooled connection must not be tried twice
                if reused and not reconnected:  # not the server's failure: not counted
                    reconnected = True
                    yield Retrying("the server had closed the connection", 0)
                    continue
            delay = self._delay(error, tries)
            if delay is None:
                raise error
            tries += 1
            yield Retrying(_reason(error), delay)
            await asyncio.sleep(delay)  # inside the caller's task: Ctrl-C cancels the wait

    def _delay(self, error: ApiError, tries: int) -> float | None:
        """Seconds to wait before sending the request again, or None: do not."""
        if not error.retryable or tries >= self.retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= MAX_WAIT else None
        return float(self.backoff * 2 ** tries)

    async def _attempt(self, messages: list[dict[str, Any]], model: str,
                       settings: dict[str, Any], arrived: list[bool]) -> AsyncIterator[Event]:
        """One request (two if a strict relay refuses stream_options); ``arrived`` gets an item
        once any of the answer has been yielded."""
        client = self._client()
        options = {"stream_options": {"include_usage": True}} if self._stream_options else {}
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                async with client.chat.completions.with_streaming_response.create(
                        model=model, messages=messages, stream=True, **options,
                        **settings) as response:
                    self._used = True
                    async for event in self._events(response, deadline):
                        arrived.append(True)
                        yield event
            return
        except TimeoutError:
            raise TimedOutError(f"the server sent nothing for {self.timeout:g} s; "
                                "gave up") from None
        except ApiError as e:
            raise redact(e, self.api_key) from None
        except Exception as e:
            error = redact(map_error(e, model, self.base_url), self.api_key)
            self._used = self._used or error.status is not None  # it answered on a connection
            if not (options and isinstance(error, BadRequestError)
                    and "stream_options" in str(error)):
                raise error from None
        self._stream_options = False  # a strict relay refused stream_options: ask without it
        async for event in self._attempt(messages, model, settings, arrived):
            yield event

    async def complete(self, messages: list[dict[str, Any]], model: str) -> str:
        """The whole answer to ``messages`` as one string (for summaries)."""
        parts: list[str] = []
        async for event in self.stream(messages, model):
            if isinstance(event, Delta):
                parts.append(event.text)
        return "".join(parts)

    async def models(self) -> list[str]:
        """The model names the endpoint lists at /v1/models (empty if it lists none)."""
        try:
            async with asyncio.timeout(min(self.timeout, 5.0)):
                page = await self._client().models.list()
                return sorted(m.id for m in page.data)
        except Exception:  # completion is a convenience: never an error
            return []

    async def _events(self, response: Any, deadline: asyncio.Timeout) -> AsyncIterator[Event]:
        """Events from the raw SSE body; the deadline moves on with every data event only, so
        keep-alive comments cannot hold a stalled answer open."""
        loop = asyncio.get_running_loop()
        finish: str | None = None
        usage = Usage()
        model: str | None = None
        received = 0
        said_done = False
        calls = ToolCalls()
        async for name, data in sse.events(response.iter_lines()):
            deadline.reschedule(loop.time() + self.timeout)
            if data.strip() == "[DONE]":
                said_done = True
                break
            chunk = _json(data)
            if chunk is None:
                continue  # an empty keep-alive, or a line that is not JSON
            received += 1
            error = stream_error(name, chunk)
            if error:
                raise error
            model = chunk.get("model") or model
            usage = _usage(chunk.get("usage")) or usage
            choice = _first_choice(chunk)
            delta = _delta(choice)
            if delta:
                yield delta
            calls.feed(choice.get("delta"))
            finish = choice.get("finish_reason") or finish
        if received == 0:
            raise _empty(said_done)
        yield Done(finish, usage, model, calls.done())


# chatrepl's request settings -> the chat completions field each is sent as
REQUEST_SETTINGS = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens",
                    "seed": "seed", "effort": "reasoning_effort",
                    "max_completion_tokens": "max_completion_tokens"}  # OpenAI's max_tokens


def request_options(settings: Mapping[str, Any],
                    tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The chat completions request fields for ``settings`` (unknown names are not sent) and
    ``tools``."""
    options = {REQUEST_SETTINGS[k]: v for k, v in settings.items()
               if k in REQUEST_SETTINGS and v is not None}
    if tools:
        options["tools"] = [dict(t) for t in tools]
    return options


# What the first request would import: the SDK, its chat resources, anyio's asyncio backend.
SDK_MODULES = ("openai", "openai.resources.chat", "anyio._backends._asyncio")


def _import_sdk() -> None:
    for name in SDK_MODULES:
        importlib.import_module(name)


def _empty(said_done: bool) -> EmptyAnswerError:
    if not said_done:  # llama-cpp-python's answer to a prompt too long: chat.py trims it
        return EmptyAnswerError("the server ended the answer without sending anything (llama.cpp "
                                "servers do this when the conversation is too long for the "
                                "context)")
    error = EmptyAnswerError("the server said the answer was done without sending any of it")
    error.retryable = True
    return error


def _reason(error: ApiError) -> str:
    """What failed, in the few words of a retry line."""
    if isinstance(error, RateLimitError):
        return "rate limited (429)"
    if isinstance(error, ServerError):
        busy = error.status in (502, 503, 504)
        return f"server {'busy' if busy else 'error'} ({error.status})"
    if isinstance(error, ConnectionFailedError):
        return "cannot connect"
    if isinstance(error, EmptyAnswerError):
        return "empty answer"
    return type(error).__name__


def _json(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _first_choice(chunk: dict[str, Any]) -> dict[str, Any]:
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _delta(choice: dict[str, Any]) -> Delta | None:
    """The text and reasoning a choice carries, if any (SERVERS.md, points 2 to 4)."""
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        return None
    text = delta.get("content")
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    text = text if isinstance(text, str) else ""
    reasoning = reasoning if isinstance(reasoning, str) else ""
    return Delta(text, reasoning) if text or reasoning else None


class ToolCalls:
    """Streamed tool calls put together (SERVERS.md, "Tool calls"): a call's first fragment has
    its ``index``, ``id``, ``type`` and ``function.name``, later ones pieces of
    ``function.arguments`` under the same index."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def feed(self, delta: object) -> None:
        fragments = delta.get("tool_calls") if isinstance(delta, dict) else None
        for position, fragment in enumerate(fragments if isinstance(fragments, list) else []):
            if isinstance(fragment, dict):
                index = fragment.get("index")
                self._merge(index if isinstance(index, int) else position, fragment)

    def _merge(self, index: int, fragment: dict[str, Any]) -> None:
        call = self._calls.setdefault(index, {"id": "", "type": "function",
                                              "function": {"name": "", "arguments": ""}})
        for key in ("id", "type"):
            if isinstance(fragment.get(key), str) and fragment[key]:
                call[key] = fragment[key]
        function = fragment.get("function")
        if isinstance(function, dict):
            if isinstance(function.get("name"), str) and not call["function"]["name"]:
                call["function"]["name"] = function["name"]
            if isinstance(function.get("arguments"), str):
                call["function"]["arguments"] += function["arguments"]

    def done(self) -> tuple[dict[str, Any], ...]:
        """The calls in index order; one the server gave no id gets one, so its result can
        name it."""
        calls = [self._calls[i] for i in sorted(self._calls)]
        for n, call in enumerate(calls):
            call["id"] = call["id"] or f"call_{n}"
        return tuple(calls)


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return Usage(prompt if isinstance(prompt, int) else None,
                 completion if isinstance(completion, int) else None)

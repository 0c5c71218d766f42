"""The OpenAI-compatible streaming client: the SDK's chunks become events, its errors ours.

The ``openai`` package is imported once the prompt is drawn (``warm``, in a thread) or on first
use. The SDK's retries are off: this client retries transient failures itself, ``retries`` times
at most and only while no answer has arrived, with a ``Retrying`` event before each wait.
Stalls end by our own deadline: keep-alive comments reset the SDK's read timeout forever.

It speaks chat completions or OpenAI's Responses API (repl/responses.py), as ``api`` says
(``auto``: Responses for the OpenAI platform); a model that chat completions serves only on the
Responses API moves there by itself, remembered in ``state`` (the store) per endpoint and model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from repl import completions, responses, sdk, sse
from repl.apierrors import empty_answer, map_error, redact, retry_reason
from repl.completions import REQUEST_SETTINGS, request_options
from repl.errors import (
    ApiError,
    BadRequestError,
    ConnectionFailedError,
    EncryptedContentError,
    NoKeyError,
    NoResponsesApiError,
    PreviousResponseNotFoundError,
    ResponsesOnlyError,
    TimedOutError,
)
from repl.events import Delta, Done, Event, Notice, Retrying
from repl.local import LOCAL_SERVERS, no_key_message
from repl.redaction import header_secrets, url_secrets, where
from repl.replay import Replays

__all__ = ["LOCAL_SERVERS", "REQUEST_SETTINGS", "ChatClient", "Delta", "Done", "Event", "Notice",
           "Retrying", "request_options"]


class State(Protocol):
    """Where the client remembers what it learned of an endpoint (the store's state)."""

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One answer's request, as the caller gave it, whichever API it goes to."""

    messages: list[dict[str, Any]]
    model: str
    settings: Mapping[str, Any]
    tools: Sequence[Mapping[str, Any]]
    replays: Replays  # beside ``messages``: each answer's Responses exchange
    kept: bool = True  # the thread's answer; False: asked aside (a title, a summary)


MAX_WAIT = 20.0  # seconds: a server asking for a longer wait is not retried (the error says it)


class ChatClient:
    def __init__(self, *, api_key: str | None, base_url: str | None, timeout: float,
                 retries: int = 2, backoff: float = 1.0,
                 local_servers: Sequence[tuple[int, str]] = LOCAL_SERVERS,
                 headers: Mapping[str, str] | None = None,
                 api: str = "auto", server_state: bool = False,
                 state: State | None = None, endpoint: str = "default") -> None:
        self.endpoint = endpoint  # its name, for the lines that blame its configuration
        self.api = api  # auto, chat or responses
        self.server_state = server_state  # Responses: store: true and previous_response_id
        self._state = state
        self._learned: dict[str, str] = {}  # what _remember kept, even without a state
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
                raise NoKeyError(no_key_message(self._local_servers))
            self._sdk = sdk.build(api_key=self.api_key, base_url=self.base_url,
                                  headers=self.headers, timeout=self.timeout,
                                  endpoint=self.endpoint)
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
            await asyncio.to_thread(sdk.import_sdk)
            # lazy attributes: built here, once
            _ = self._client().responses if self.uses_responses("") else \
                self._client().chat.completions
        except Exception:  # a convenience only: the first message builds it, or says why not
            return

    async def aclose(self) -> None:
        """Close the connection pool while the event loop still runs."""
        if self._sdk is not None:
            sdk, self._sdk, self._used = self._sdk, None, False
            await sdk.close()

    async def stream(self, messages: list[dict[str, Any]], model: str, *,
                     settings: Mapping[str, Any] | None = None,
                     tools: Sequence[Mapping[str, Any]] = (),
                     replays: Replays = (), kept: bool = True) -> AsyncIterator[Event]:
        """Stream one answer: Delta events, then exactly one Done, with a Retrying event before
        each automatic retry. Raises ApiError (``partial`` if some answer had arrived).
        ``settings``: chatrepl's request settings by name (REQUEST_SETTINGS); ``tools``: function
        tools as chat completions has them; ``replays``: beside ``messages``, each answer's
        Responses exchange (replays[i] is messages[i]'s), to replay or chain from; ``kept``:
        False for what is asked aside, never stored at the server (``server_state``)."""
        settings, chain = settings or {}, self.server_state and kept
        outgoing = Outgoing(messages, model, settings, tools, replays, kept)
        tries, reconnected, switched, resealed = 0, False, False, False
        while True:
            arrived: list[bool] = []
            try:
                async for event in self._attempt(outgoing, chain, arrived):
                    yield event
                return
            except ApiError as e:
                error = e
            if arrived:
                error.partial = True
                raise error
            if isinstance(error, ResponsesOnlyError | NoResponsesApiError) and \
                    self.api == "auto" and not switched:  # once: never back and forth
                switched = True
                yield self._switch(model, error)
                continue
            if isinstance(error, PreviousResponseNotFoundError) and chain:
                chain = False
                yield Notice("the server no longer has the previous response: sending the "
                             "whole thread again")
                continue
            if isinstance(error, EncryptedContentError) and not resealed:
                resealed = True  # what this endpoint gave before: not sent to it again
                self._remember(f"reasoning:{self.endpoint}", str(self._refusals() + 1))
                yield Notice(responses.RESEALED)
                continue
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
            yield Retrying(retry_reason(error), delay)
            await asyncio.sleep(delay)  # inside the caller's task: Ctrl-C cancels the wait

    def _switch(self, model: str, error: ApiError) -> Notice:
        """Use the other API for ``model`` from now on, remembered, and say so."""
        if isinstance(error, ResponsesOnlyError):
            self._remember(f"api:{model}", "responses")
            return Notice(f"{model} is served only on the Responses API: chatrepl uses it "
                          "for this model from now on")
        self._remember(f"api:{model}", "chat")
        return Notice(f"the server has no Responses API: chatrepl uses chat completions for "
                      f"{model} from now on")

    def uses_responses(self, model: str) -> bool:
        """Whether a request for ``model`` goes to the Responses API."""
        if self.api != "auto":
            return self.api == "responses"
        learned = self._recall(f"api:{model}")  # the model's own, or the server's lack
        return learned == "responses" if learned else self.openai_platform

    @property
    def openai_platform(self) -> bool:
        """No base URL, or api.openai.com's."""
        host = (self.base_url or "https://api.openai.com").split("//", 1)[-1].split("/", 1)[0]
        return host == "api.openai.com"

    @property
    def origin(self) -> str:
        """This endpoint as answers record it, with the times it refused its own reasoning."""
        return responses.origin(self.endpoint, self.base_url, self._refusals())

    def _refusals(self) -> int:
        value = self._recall(f"reasoning:{self.endpoint}") or ""
        return int(value) if value.isdigit() else 0

    def _key(self, what: str) -> str:
        """Keyed like window.state_key: per endpoint (and model, in ``what``)."""
        return f"{what}@{where(self.base_url)}"

    def _recall(self, what: str) -> str | None:
        key = self._key(what)
        if key not in self._learned and self._state:
            self._learned[key] = self._state.get_state(key) or ""
        return self._learned.get(key) or None

    def _remember(self, what: str, value: str) -> None:
        self._learned[self._key(what)] = value
        if self._state:
            self._state.set_state(self._key(what), value)

    def _delay(self, error: ApiError, tries: int) -> float | None:
        """Seconds to wait before sending the request again, or None: do not."""
        if not error.retryable or tries >= self.retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= MAX_WAIT else None
        return float(self.backoff * 2 ** tries)

    async def _attempt(self, out: Outgoing, chain: bool,
                       arrived: list[bool]) -> AsyncIterator[Event]:
        """One request to the model's API; ``arrived`` gets an item once any of the answer
        has been yielded."""
        attempt = self._responses if self.uses_responses(out.model) else self._chat
        async for event in attempt(out, chain, arrived):
            yield event

    async def _chat(self, out: Outgoing, chain: bool,
                    arrived: list[bool]) -> AsyncIterator[Event]:
        """Chat completions (two requests if a strict relay refuses stream_options)."""
        client = self._client()
        options = {"stream_options": {"include_usage": True}} if self._stream_options else {}
        fields = {**options, **request_options(out.settings, out.tools,
                                               openai=self.openai_platform)}

        def send() -> Any:
            return client.chat.completions.with_streaming_response.create(
                model=out.model, messages=out.messages, stream=True, **fields)

        try:
            async for event in self._request(send, self._events, out.model, arrived):
                yield event
            return
        except BadRequestError as e:
            if not (options and not arrived and e.param == "stream_options"):
                raise
        self._stream_options = False  # a strict relay refused stream_options: ask without it
        async for event in self._chat(out, chain, arrived):
            yield event

    async def _responses(self, out: Outgoing, chain: bool,
                         arrived: list[bool]) -> AsyncIterator[Event]:
        """The Responses API (two requests if the server refuses ``include``: remembered)."""
        client = self._client()
        include = self._recall("include") != "refused"
        body = responses.body(out.messages, out.model, out.settings, out.tools,
                              store=self.server_state and out.kept, include=include,
                              chain=chain, origin=self.origin, replays=out.replays)
        reader = responses.Reader(stored=self.server_state and out.kept,
                                  sent=responses.context(out.messages), origin=self.origin)

        async def read(response: Any, deadline: asyncio.Timeout) -> AsyncIterator[Event]:
            async for name, data in self._data(response, deadline):
                delta = reader.feed(name, data)
                if delta:
                    yield delta
            if reader.received == 0:
                raise empty_answer(False)
            yield reader.done()

        try:
            async for event in self._request(
                    lambda: client.responses.with_streaming_response.create(**body),
                    read, out.model, arrived, route="responses"):
                yield event
            return
        except BadRequestError as e:
            if not (include and not arrived and e.param == "include"):
                raise
        self._remember("include", "refused")
        async for event in self._responses(out, chain, arrived):
            yield event

    async def _request(self, send: Callable[[], AbstractAsyncContextManager[Any]],
                       read: Callable[[Any, asyncio.Timeout], AsyncIterator[Event]], model: str,
                       arrived: list[bool], *, route: str = "chat") -> AsyncIterator[Event]:
        """One request under our deadline, its failures as ApiError (the key taken out);
        ``route``: the API it goes to."""
        try:
            # made before the deadline starts: the SDK imports what a request needs on its
            # first use (a fifth of a second on a slow machine), which is not the server's time
            request = send()
            async with asyncio.timeout(self.timeout) as deadline:
                async with request as response:
                    self._used = True
                    async for event in read(response, deadline):
                        arrived.append(True)
                        yield event
        except TimeoutError:
            raise TimedOutError(f"the server sent nothing for {self.timeout:g} s; "
                                "gave up") from None
        except ApiError as e:
            raise redact(e, *self.secrets) from None
        except Exception as e:
            error = redact(map_error(e, model, self.base_url, self.endpoint, route=route),
                           *self.secrets)
            self._used = self._used or error.status is not None  # it answered on a connection
            raise error from None

    @property
    def secrets(self) -> list[str | None]:
        """What its errors must never show: the key, the base URL's user and password, the
        values of headers named like a credential."""
        return [self.api_key, *url_secrets(self.base_url), *header_secrets(self.headers)]

    async def delete_response(self, response_id: str) -> None:
        """Delete a response the server stored (``server_state``): DELETE /v1/responses/{id}.
        One the server no longer has is gone already; any other failure is an ApiError."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._client().responses.delete(response_id)
        except TimeoutError:
            raise TimedOutError(f"the server did not answer for {self.timeout:g} s") from None
        except ApiError:  # no key
            raise
        except Exception as e:
            error = redact(map_error(e, "", self.base_url, self.endpoint), *self.secrets)
            if error.status != 404:
                raise error from None

    async def models(self) -> list[str]:
        """The model names the endpoint lists at /v1/models (empty if it lists none)."""
        try:
            async with asyncio.timeout(min(self.timeout, 5.0)):
                page = await self._client().models.list()
                return sorted(m.id for m in page.data)
        except Exception:  # completion is a convenience: never an error
            return []

    async def _data(self, response: Any,
                    deadline: asyncio.Timeout) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event name, JSON object) from the raw SSE body, up to [DONE]; the deadline moves
        on with every data event only, so keep-alive comments cannot hold a stalled answer
        open."""
        loop = asyncio.get_running_loop()
        async for name, data in sse.events(response.iter_lines()):
            deadline.reschedule(loop.time() + self.timeout)
            if data.strip() == "[DONE]":
                self._said_done = True
                return
            chunk = completions.json_object(data)
            if chunk is not None:  # else an empty keep-alive, or a line that is not JSON
                yield name, chunk

    async def _events(self, response: Any, deadline: asyncio.Timeout) -> AsyncIterator[Event]:
        """Chat completions' chunks as events (repl/completions.py)."""
        self._said_done = False
        async for event in completions.events(self._data(response, deadline),
                                              lambda: self._said_done):
            yield event


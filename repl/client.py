"""The OpenAI-compatible streaming client: the SDK's chunks become events, its errors ours.

The ``openai`` package is imported on first use, never on the way to the prompt. Retries are off
(``max_retries=0``) so one user turn is one request; stalls are ended by our own deadline, because
keep-alive comments reset the SDK's read timeout forever.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from repl import sse
from repl.errors import ApiError
from repl.thread import Usage

# Local OpenAI-compatible servers worth suggesting when no API key is set.
LOCAL_SERVERS: tuple[tuple[int, str], ...] = ((11434, "Ollama"), (1234, "LM Studio"),
                                              (8080, "llama.cpp"), (8000, "vLLM"))


@dataclass(frozen=True, slots=True)
class Delta:
    text: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class Done:
    finish_reason: str | None  # None: the stream ended without saying why (cut short)
    usage: Usage
    model: str | None


Event = Delta | Done


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
                 local_servers: Sequence[tuple[int, str]] = LOCAL_SERVERS) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self._local_servers = local_servers
        self._sdk: Any = None
        self._stream_options = True

    def _client(self) -> Any:
        if self._sdk is None:
            if not self.api_key and not self.base_url:
                raise ApiError(self._no_key_message(), kind="no_key")
            import openai

            self._sdk = openai.AsyncOpenAI(
                # Local servers need no key, but the SDK insists on one.
                api_key=self.api_key or "no-key-needed",
                base_url=self.base_url,
                max_retries=0,
                # our own deadline (see stream) ends stalls; the SDK's only backs it up
                timeout=openai.Timeout(self.timeout + 5, connect=min(self.timeout, 10.0)),
            )
        return self._sdk

    async def aclose(self) -> None:
        """Close the connection pool while the event loop still runs."""
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None

    def _no_key_message(self) -> str:
        text = "no API key: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server) and restart"
        found = find_local_server(self._local_servers)
        if found:
            port, label = found
            text += (f"; a server answers on localhost:{port} ({label}): "
                     f"OPENAI_BASE_URL=http://localhost:{port}/v1 chatrepl")
        return text

    async def stream(self, messages: list[dict[str, str]], model: str) -> AsyncIterator[Event]:
        """Stream one answer. Yields Delta events, then exactly one Done; raises ApiError."""
        client = self._client()
        options = {"stream_options": {"include_usage": True}} if self._stream_options else {}
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                async with client.chat.completions.with_streaming_response.create(
                        model=model, messages=messages, stream=True, **options) as response:
                    async for event in self._events(response, deadline):
                        yield event
            return
        except TimeoutError:
            raise ApiError(f"the server sent nothing for {self.timeout:g} s; gave up",
                           kind="timeout") from None
        except ApiError as e:
            raise _redact(e, self.api_key) from None
        except Exception as e:
            error = self._error(e, model)
            if not (options and error.kind == "bad_request" and "stream_options" in str(error)):
                raise error from None
        self._stream_options = False  # a strict relay refused stream_options: ask without it
        async for event in self.stream(messages, model):
            yield event

    async def complete(self, messages: list[dict[str, str]], model: str) -> str:
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
        async for name, data in sse.events(response.iter_lines()):
            deadline.reschedule(loop.time() + self.timeout)
            if data.strip() == "[DONE]":
                break
            chunk = _json(data)
            if chunk is None:
                continue  # an empty keep-alive, or a line that is not JSON
            received += 1
            _raise_stream_error(name, chunk)
            model = chunk.get("model") or model
            usage = _usage(chunk.get("usage")) or usage
            choice = _first_choice(chunk)
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                text = delta.get("content")
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                text = text if isinstance(text, str) else ""
                reasoning = reasoning if isinstance(reasoning, str) else ""
                if text or reasoning:
                    yield Delta(text, reasoning)
            finish = choice.get("finish_reason") or finish
        if received == 0:
            raise ApiError("the server ended the answer without sending anything (llama.cpp "
                           "servers do this when the conversation is too long for the context)",
                           kind="empty")
        yield Done(finish, usage, model)

    def _error(self, e: Exception, model: str) -> ApiError:
        return _redact(map_error(e, model, self.base_url), self.api_key)


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


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return Usage(prompt if isinstance(prompt, int) else None,
                 completion if isinstance(completion, int) else None)


def _raise_stream_error(event: str, chunk: dict[str, Any]) -> None:
    """Errors sent after HTTP 200, in each shape servers use (see shared/SERVERS.md, point 7)."""
    if event == "error" or chunk.get("error") or chunk.get("object") == "error":
        message, _ = _body_message(chunk)
        raise ApiError(f"the server reported an error mid-answer: {message or 'no details'}",
                       kind="stream")


MAX_ERROR = 400  # characters of a server's error text worth showing on one line


def _redact(error: ApiError, key: str | None) -> ApiError:
    """The error without the API key in it (servers may echo it), then cut to one line's worth:
    in that order, so a cut can never leave part of the key behind."""
    text = str(error)
    if key and len(key) > 4:
        text = text.replace(key, "***")
    if len(text) > MAX_ERROR:
        text = text[:MAX_ERROR] + "…"
    if text == str(error):
        return error
    return ApiError(text, kind=error.kind, retry_after=error.retry_after)


def _body_message(body: object) -> tuple[str, str]:
    """(message, code) from an error body of any shape servers send."""
    if isinstance(body, list) and body:
        return _body_message(body[0])
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, str):
            return inner, ""
        if isinstance(inner, dict):
            message = inner.get("message") or inner.get("detail") or json.dumps(inner)
            codes = (inner.get("code"), inner.get("type"))
            return str(message), " ".join(str(c) for c in codes if c)
        return str(inner), ""
    if isinstance(body, str):
        text = body.strip()
        if text.startswith("<"):
            return "the server answered with an HTML page (a proxy in front of it?)", ""
        return text, ""
    return "", ""


_CONTEXT_HINTS = ("context_length_exceeded", "exceed_context_size", "maximum context length",
                  "context length", "context window", "context size", "too many tokens",
                  "prompt is too long")


def map_error(e: Exception, model: str, base_url: str | None) -> ApiError:
    """One clear line for an SDK exception."""
    import openai

    where = base_url or "api.openai.com"
    if isinstance(e, openai.APITimeoutError):
        return ApiError(f"the request to {where} timed out", kind="timeout")
    if isinstance(e, openai.APIConnectionError):
        cause = e.__cause__ or e.__context__
        reason = f" ({cause})" if cause else ""
        return ApiError(f"cannot connect to {where}{reason}", kind="connection")
    if isinstance(e, openai.APIStatusError):
        return _status_error(e.status_code, e.body, e.response.headers, model, where)
    if isinstance(e, openai.APIError):
        message, _ = _body_message(e.body)
        return ApiError(f"the server reported an error mid-answer: {message or e.message}",
                        kind="stream")
    if isinstance(e, OSError) or type(e).__module__.startswith(("httpx", "httpcore", "h11")):
        return ApiError(f"the connection to {where} broke off mid-answer ({e or type(e).__name__})",
                        kind="connection")
    return ApiError(f"request failed: {type(e).__name__}: {e}", kind="stream")


def _status_error(status: int, body: object, headers: Any, model: str, where: str) -> ApiError:
    message, code = _body_message(body)
    detail = f" ({status}: {message})" if message else f" ({status})"
    lowered = f"{message} {code}".lower()
    if status == 401:
        return ApiError(f"{where} refused the API key{detail}; check OPENAI_API_KEY", kind="auth")
    if status == 402 or "insufficient_quota" in lowered:
        return ApiError(f"your quota or credits are exhausted{detail}; retrying will not help "
                        "until the account is topped up", kind="quota")
    if status == 429:
        wait = _retry_after(headers)
        when = f"; try again in {wait:g} s" if wait else "; wait a moment and try again"
        return ApiError(f"rate limited{detail}{when}", kind="rate_limit", retry_after=wait)
    if any(hint in lowered for hint in _CONTEXT_HINTS):
        detail += _context_numbers(body, message)
        return ApiError(f"the conversation is too long for {model}'s context{detail}; start a "
                        "new thread with /new, or choose a model with a larger context (/model)",
                        kind="context")
    if status == 404:
        if "model" in lowered or not message:
            return ApiError(f"model {model!r} not found at {where}{detail}; choose another with "
                            "/model NAME", kind="not_found")
        return ApiError(f"not found at {where}{detail}; check OPENAI_BASE_URL", kind="not_found")
    if status == 403:
        return ApiError(f"{where} refused the request{detail}", kind="auth")
    if status >= 500:
        return ApiError(f"the server failed{detail}; try again", kind="server")
    return ApiError(f"the server rejected the request{detail}", kind="bad_request")


def _context_numbers(body: object, message: str) -> str:
    """llama.cpp's sizes (``n_prompt_tokens``, ``n_ctx``) when its message does not state them:
    chatrepl learns the window from them (window.overflow)."""
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict) or re.search(r"\d", message):
        return ""
    sizes = [f"{k} {inner[k]}" for k in ("n_prompt_tokens", "n_ctx")
             if isinstance(inner.get(k), int)]
    return f" ({', '.join(sizes)})" if sizes else ""


def _retry_after(headers: Any) -> float | None:
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None

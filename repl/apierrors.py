"""What went wrong with a request, as one of repl.errors' ApiError classes: SDK exceptions, error
bodies of every shape servers send (dicts, strings, lists, HTML), with the API key and the base
URL's credentials taken out (repl.redaction).

Messages hold no REPL command and no flag: each class's ``hint`` says what to do where the user is.
"""

from __future__ import annotations

import json
import re
from typing import Any

from repl.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    BaseUrlRefusedError,
    ConnectionFailedError,
    ContextTooLongError,
    EmptyAnswerError,
    EncryptedContentError,
    HeaderRefusedError,
    ModelNotFoundError,
    NoResponsesApiError,
    NotFoundError,
    PermissionDeniedError,
    PreviousResponseNotFoundError,
    QuotaExhaustedError,
    RateLimitError,
    ResponsesOnlyError,
    ServerError,
    StreamError,
    TimedOutError,
    UnsupportedSettingError,
)
from repl.redaction import scrub, shown

MAX_ERROR = 400  # characters of a server's error text worth showing on one line

_CONTEXT_HINTS = ("context_length_exceeded", "exceed_context_size", "maximum context length",
                  "context length", "context window", "context size", "too many tokens",
                  "prompt is too long", "but the model takes at most")
# chat completions' 404 for a model it does not serve, though the Responses API does
_RESPONSES_ONLY = ("only supported in v1/responses", "not a chat model")


def redact(error: ApiError, *secrets: str | None) -> ApiError:
    """The error without the secrets in it (servers may echo the key), then cut to one line's
    worth: in that order, so a cut can never leave part of a secret behind."""
    text = scrub(str(error), secrets)
    if len(text) > MAX_ERROR:
        text = text[:MAX_ERROR] + "…"
    error.args = (text,)
    return error


def body_message(body: object) -> tuple[str, str]:
    """(message, code) from an error body of any shape servers send, the message one line."""
    message, code = _body_message(body)
    return readable(message), code


# what makes a validation dump (pydantic's, passed on whole by llama-cpp-python and LiteLLM)
# long and unreadable: the input it echoes, its link, LiteLLM's routing lines
_NOISE = (r"\s*\[type=[^\n]*\]", r"\s*For further information visit \S+",
          r"^\s*(?:Received|Available) Model Group.*$")


def readable(text: str) -> str:
    """A server's error text as one line: its lines joined, a validation dump without the
    input it echoes."""
    for pattern in _NOISE:
        text = re.sub(pattern, "", text, flags=re.MULTILINE)
    return ": ".join(line.strip() for line in text.splitlines() if line.strip())


def _body_message(body: object) -> tuple[str, str]:
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


def stream_error(event: str, chunk: dict[str, Any]) -> StreamError | None:
    """The error an event carries after HTTP 200, in each shape servers use (docs/servers.md,
    point 7)."""
    if not (event == "error" or chunk.get("error") or chunk.get("object") == "error"):
        return None
    message, _ = body_message(chunk)
    return StreamError(f"the server reported an error mid-answer: {message or 'no details'}")


def map_error(e: Exception, model: str, base_url: str | None, endpoint: str, *,
              route: str = "chat") -> ApiError:
    """One clear line for an SDK exception (or a broken body while reading the answer);
    ``route``: the API the request went to (chat, or responses)."""
    import openai

    where = shown(base_url)
    if refused_header(e):
        return HeaderRefusedError(f"endpoint {endpoint!r}: its API key or one of its headers "
                                  "cannot be sent as an HTTP header (it holds a line break or "
                                  "another character a header cannot); nothing was sent")
    if isinstance(e, openai.APITimeoutError):
        return TimedOutError(f"the request to {where} timed out")
    if isinstance(e, openai.APIConnectionError):
        return ConnectionFailedError(f"cannot connect to {where} ({_cause(e)})",
                                     endpoint=endpoint)
    if isinstance(e, openai.APIStatusError):
        if route == "responses" and e.status_code == 404 and not _names_model(e.body, model):
            return NoResponsesApiError(f"the server has no Responses API (404 on {where}"
                                       "/responses)", endpoint=endpoint, status=404)
        return status_error(e.status_code, e.body, e.response.headers, model, where)
    if isinstance(e, openai.APIError):
        message, _ = body_message(e.body)
        return StreamError(f"the server reported an error mid-answer: {message or e.message}")
    if isinstance(e, OSError) or type(e).__module__.startswith(("httpx", "httpcore", "h11")):
        return StreamError(f"the connection to {where} broke off mid-answer ({_describe(e)})")
    return StreamError(f"request failed: {type(e).__name__}: {e}")


def refused_header(e: BaseException) -> bool:
    """The HTTP library refused a header value before sending (httpx's LocalProtocolError
    "Illegal header value", or a value that is not ASCII), whatever wraps it."""
    seen: BaseException | None = e
    for _ in range(8):  # a chain of causes is short; never follow one round in a loop
        if seen is None:
            break
        kind = type(seen).__name__
        if kind in ("LocalProtocolError", "UnicodeEncodeError") and "header" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def refused_url(e: Exception, endpoint: str) -> BaseUrlRefusedError | None:
    """The base_url the HTTP library refused as the SDK's client was built (bytes that are not
    UTF-8 in it, httpx's InvalidURL: a bad port or host), as the endpoint's fault; else None."""
    if isinstance(e, UnicodeError):
        why = "it holds bytes that are not UTF-8 text"
    elif type(e).__name__ == "InvalidURL":
        why = str(e).encode("utf-8", "backslashreplace").decode()  # never a surrogate shown
    else:
        return None
    return BaseUrlRefusedError(f"endpoint {endpoint!r}: its base_url cannot be used ({why}); "
                               "nothing was sent", endpoint=endpoint)


def _cause(e: Exception) -> str:
    cause = e.__cause__ or e.__context__
    return _describe(cause) if cause else type(e).__name__


def _describe(e: BaseException) -> str:
    """The exception's text, or its type's name when it has none (never an empty "()")."""
    return str(e).strip() or type(e).__name__


def status_error(status: int, body: object, headers: Any, model: str, where: str) -> ApiError:
    message, code = body_message(body)
    detail = f" ({status}: {message})" if message else f" ({status})"
    lowered = f"{message} {code}".lower()
    wait = retry_after(headers)
    if status == 401:
        return AuthenticationError(f"{where} refused the API key{detail}", status=status)
    if status == 402 or "insufficient_quota" in lowered:
        return QuotaExhaustedError(f"your quota or credits are exhausted{detail}", status=status)
    if status == 429:
        return RateLimitError(f"rate limited{detail}", status=status, retry_after=wait)
    if any(hint in lowered for hint in _CONTEXT_HINTS):
        limit, prompt = overflow(body, message)
        detail += _context_numbers(body, message)
        return ContextTooLongError(f"the conversation is too long for {model}'s context{detail}",
                                   limit=limit, prompt=prompt, status=status)
    if status == 404 and any(hint in lowered for hint in _RESPONSES_ONLY):
        return ResponsesOnlyError(f"{model} is served only on the Responses API{detail}",
                                  status=status)
    if status == 400 and ("previous_response_not_found" in lowered
                          or _param(body) == "previous_response_id"):
        return PreviousResponseNotFoundError(f"the server no longer has the previous response"
                                             f"{detail}", status=status)
    if status == 400 and "invalid_encrypted_content" in lowered:
        return EncryptedContentError(f"the server cannot read the earlier answers' encrypted "
                                     f"reasoning{detail}", status=status)
    if status == 404:
        if "model" in lowered or not message:
            return ModelNotFoundError(f"model {model!r} not found at {where}{detail}",
                                      status=status)
        return NotFoundError(f"not found at {where}{detail}", status=status)
    if status == 403:
        return PermissionDeniedError(f"{where} refused the request{detail}", status=status)
    if status >= 500 or status in (408, 409):
        error = ServerError(f"the server failed{detail}", status=status, retry_after=wait)
        error.retryable = "validation error" not in lowered  # it fails the same way again
        return error
    param = refused_param(body, message)
    if param and (setting := _SETTING_OF.get(param)):
        return UnsupportedSettingError(f"the server rejected the request{detail}",
                                       setting=setting, param=param, status=status)
    return BadRequestError(f"the server rejected the request{detail}", param=param,
                           status=status)


def _names_model(body: object, model: str) -> bool:
    """A 404 body that is about the model (OpenAI's ``model_not_found``, Ollama's "model 'x' not
    found"), not about the route."""
    message, code = body_message(body)
    if any(route in message for route in ROUTE_MISSING):
        return False  # the route is missing, even where a proxy names the model beside it
    return "model_not_found" in code or (bool(model) and model.lower() in message.lower())


# what a server without the route says, as a proxy (LiteLLM) passes it on: FastAPI's, Go's
ROUTE_MISSING = ('{"detail":"Not Found"}', "404 page not found")


def _param(body: object) -> object:
    inner = body.get("error", body) if isinstance(body, dict) else None
    return inner.get("param") if isinstance(inner, dict) else None


# how servers that give no ``param`` name the field they refuse (a strict relay's "Unknown
# parameter: 'stream_options'", OpenAI's "Unsupported value: 'temperature' does not...")
_REFUSED = re.compile(r"(?:unknown|unsupported|unrecognized) (?:parameter|value|field)s?: "
                      r"'([\w.]+)'", re.IGNORECASE)


def refused_param(body: object, message: str) -> str | None:
    """The request field a 4xx refused (the field itself: ``include`` for ``include[0]``): the
    body's ``param``, else the one its message names. Read here, once, where the error enters;
    callers compare the field."""
    param = _param(body)
    if not (isinstance(param, str) and param):
        found = _REFUSED.search(message)
        param = found.group(1) if found else None
    return param.split("[", 1)[0] or None if param else None


# a refused request field -> chatrepl's setting (its /set name)
_SETTING_OF = {"temperature": "temperature", "top_p": "top_p", "seed": "seed",
               "max_tokens": "max_tokens", "max_completion_tokens": "max_tokens",
               "max_output_tokens": "max_tokens", "reasoning_effort": "effort",
               "reasoning.effort": "effort"}


# What servers say (docs/servers.md): OpenAI "maximum context length is N tokens. However, your
# messages resulted in M tokens" (or "... you requested T tokens (M in the messages, ...)");
# vLLM "You passed M input tokens ... the model's context length is only N tokens"; llama.cpp
# "request (M tokens) exceeds the available context size (N tokens)", n_prompt_tokens, n_ctx;
# Anthropic's compatibility layer "prompt is too long: M tokens > N maximum"; transformers serve
# "The prompt has M tokens, but the model takes at most N".
_LIMITS = (r"context length is (?:only )?(\d+)", r"context size \((\d+) tokens\)",
           r"context window of (\d+)", r"(\d+) maximum", r"takes at most (\d+)")
_PROMPTS = (r"(\d+) in the messages", r"resulted in (\d+) tokens", r"passed (\d+) input tokens",
            r"has (\d+) input tokens", r"request \((\d+) tokens\)", r"too long: (\d+) tokens",
            r"prompt has (\d+) tokens")


def overflow(body: object, message: str) -> tuple[int | None, int | None]:
    """(window, prompt size) a context-too-long error states, where it states them: the body's
    fields (llama.cpp's ``n_ctx``, ``n_prompt_tokens``), else the server's own words."""
    inner = body.get("error", body) if isinstance(body, dict) else None
    fields = inner if isinstance(inner, dict) else {}
    limit, prompt = fields.get("n_ctx"), fields.get("n_prompt_tokens")
    return (limit if _count(limit) else _first(_LIMITS, message),
            prompt if _count(prompt) else _first(_PROMPTS, message))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _first(patterns: tuple[str, ...], text: str) -> int | None:
    for pattern in patterns:
        found = re.search(pattern, text, re.IGNORECASE)
        if found:
            return int(found.group(1))
    return None


def _context_numbers(body: object, message: str) -> str:
    """llama.cpp's sizes (``n_prompt_tokens``, ``n_ctx``) when its message does not state them,
    for the user to read (the error carries them as fields too)."""
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict) or re.search(r"\d", message):
        return ""
    sizes = [f"{k} {inner[k]}" for k in ("n_prompt_tokens", "n_ctx")
             if isinstance(inner.get(k), int)]
    return f" ({', '.join(sizes)})" if sizes else ""


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (an HTTP date is not read)."""
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


def blank_answer(finish: str | None) -> EmptyAnswerError:
    """An answer that ended (``finish``) with no text and no tool call: what LiteLLM makes of
    llama's empty reply to a prompt too long for the context. Never stored as an answer."""
    return EmptyAnswerError(f"the model answered with nothing (finish_reason {finish!r}): "
                            "servers do this when the conversation is too long for the context")


def empty_answer(said_done: bool) -> EmptyAnswerError:
    if not said_done:  # llama-cpp-python's answer to a prompt too long: chat.py trims it
        return EmptyAnswerError("the server ended the answer without sending anything (llama.cpp "
                                "servers do this when the conversation is too long for the "
                                "context)")
    error = EmptyAnswerError("the server said the answer was done without sending any of it")
    error.retryable = True
    return error


def retry_reason(error: ApiError) -> str:
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

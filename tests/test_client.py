"""ChatClient against a real HTTP server that replays what OpenAI-compatible servers send."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fakeserver import Failure, FakeOpenAI, PoisonedKeepAlive, RawSSE, Reply, Reset, chunk
from harness import Session

from repl import config as config_mod
from repl.client import ChatClient, Delta, Done, Event, Retrying
from repl.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConnectionFailedError,
    ContextTooLongError,
    EmptyAnswerError,
    ModelNotFoundError,
    NoKeyError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    StreamError,
    TimedOutError,
)
from repl.thread import Usage


@pytest.fixture(autouse=True)
def _collect_earlier_loops_garbage() -> None:
    """Collect what earlier tests' event loops left (an HTTP stream, an async generator) before
    this test's loop runs: finalized inside it, such garbage raises "Event loop is closed",
    and prompt_toolkit stops the App at "Press ENTER to continue" until the test times out."""
    gc.collect()

KEY = "sk-test-secret-key-123"


HELLO = [{"role": "user", "content": "hello"}]


def make(server: FakeOpenAI, timeout: float = 5.0, key: str | None = KEY,
         retries: int = 0, backoff: float = 0.05) -> ChatClient:
    """A client for ``server``; retries are off unless a test asks (mapping tests want the
    first failure)."""
    return ChatClient(api_key=key, base_url=server.url, timeout=timeout, retries=retries,
                      backoff=backoff, local_servers=())


async def _collect(client: ChatClient, model: str,
                   messages: list[dict[str, str]]) -> tuple[list[Event], ApiError | None]:
    events: list[Event] = []
    try:
        async for event in client.stream(messages, model):
            events.append(event)
    except ApiError as e:
        return events, e
    return events, None


def collect(client: ChatClient, model: str = "fake-model",
            messages: list[dict[str, str]] | None = None) -> tuple[list[Event], ApiError | None]:
    """Every event the client yields, and the ApiError that ended the stream (if one did)."""
    async def run() -> tuple[list[Event], ApiError | None]:
        try:
            return await _collect(client, model, messages or HELLO)
        finally:
            # closed in this loop: a client left to the garbage collector would close its
            # connections in a later test's loop, whose prompt would then wait for Enter
            await client.aclose()

    return asyncio.run(run())


def events_ok(client: ChatClient, model: str = "fake-model") -> list[Event]:
    events, error = collect(client, model)
    assert error is None, f"unexpected {type(error).__name__}: {error}"
    return events


def fail(client: ChatClient, model: str = "fake-model") -> ApiError:
    _, error = collect(client, model)
    assert error is not None, "expected an ApiError"
    return error


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def reasoning_of(events: list[Event]) -> str:
    return "".join(e.reasoning for e in events if isinstance(e, Delta))


def done_of(events: list[Event]) -> Done:
    assert events and isinstance(events[-1], Done), events
    assert sum(isinstance(e, Done) for e in events) == 1
    return events[-1]


def sse(*items: dict[str, Any] | str, done: bool = True) -> bytes:
    """An SSE body: dicts become ``data:`` events, strings are sent as they are."""
    out = []
    for item in items:
        out.append(item if isinstance(item, str) else f"data: {json.dumps(item)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def obj(choices: list[dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
    o: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                         "model": "fake-model"}
    if choices is not None:
        o["choices"] = choices
    o.update(extra)
    return o


def choice(delta: dict[str, Any] | None = None, finish: str | None = None,
           **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"index": 0, "finish_reason": finish, **extra}
    if delta is not None:
        c["delta"] = delta
    return c


# == happy paths ===================================================================================


def test_normal_stream(server: FakeOpenAI) -> None:
    server.queue(Reply("Hello there, world!", pieces=4, usage=(10, 5)))
    events = events_ok(make(server), model="my-model")
    deltas = [e for e in events if isinstance(e, Delta)]
    assert len(deltas) >= 2
    assert text_of(events) == "Hello there, world!"
    assert reasoning_of(events) == ""
    done = done_of(events)
    assert done.finish_reason == "stop"
    assert done.usage == Usage(10, 5)
    assert done.model == "fake-model"  # what the server says it used


def test_request_carries_model_messages_and_stream_options(server: FakeOpenAI) -> None:
    history = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q1"},
               {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}]
    events, error = collect(make(server), model="my-model", messages=history)
    assert error is None
    assert text_of(events) == "echo: q2"
    [request] = server.requests
    assert request["model"] == "my-model"
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    assert request["messages"] == history
    assert {k.lower(): v for k, v in server.headers[0].items()}["authorization"] == f"Bearer {KEY}"


def test_finish_length_is_reported(server: FakeOpenAI) -> None:
    server.queue(Reply("cut", finish="length"))
    assert done_of(events_ok(make(server))).finish_reason == "length"


def test_reasoning_content_field(server: FakeOpenAI) -> None:
    server.queue(Reply("The answer is 4.", reasoning="2+2... carry nothing... 4"))
    events = events_ok(make(server))
    assert reasoning_of(events) == "2+2... carry nothing... 4"
    assert text_of(events) == "The answer is 4."
    first_reasoning = next(i for i, e in enumerate(events) if isinstance(e, Delta) and e.reasoning)
    first_text = next(i for i, e in enumerate(events) if isinstance(e, Delta) and e.text)
    assert first_reasoning < first_text


def test_reasoning_field_vllm_ollama_style(server: FakeOpenAI) -> None:
    server.queue(RawSSE(sse(
        obj([choice({"role": "assistant", "content": ""})]),
        obj([choice({"reasoning": "think "})]),
        obj([choice({"reasoning": "hard"})]),
        obj([choice({"content": "done"})]),
        obj([choice({}, finish="stop")]),
    )))
    events = events_ok(make(server))
    assert reasoning_of(events) == "think hard"
    assert text_of(events) == "done"
    assert done_of(events).finish_reason == "stop"


def test_stream_options_refused_retries_without(server: FakeOpenAI) -> None:
    server.reject_stream_options = True
    client = make(server)

    async def twice() -> tuple[list[Event], list[Event]]:
        first, e1 = await _collect(client, "m", [{"role": "user", "content": "one"}])
        second, e2 = await _collect(client, "m", [{"role": "user", "content": "two"}])
        assert e1 is None and e2 is None, (e1, e2)
        return first, second

    first, second = asyncio.run(twice())
    assert text_of(first) == "echo: one"
    assert done_of(first).finish_reason == "stop"
    assert text_of(second) == "echo: two"
    assert len(server.requests) == 3  # refused, retried, then the next turn asks plainly
    assert "stream_options" in server.requests[0]
    assert "stream_options" not in server.requests[1]
    assert "stream_options" not in server.requests[2]
    assert server.requests[1]["messages"] == [{"role": "user", "content": "one"}]


def test_the_refused_field_is_read_from_the_errors_param_not_from_its_words(
        server: FakeOpenAI) -> None:
    """A relay that names stream_options only in ``param`` is asked again without it; one
    whose words mention stream_options while it refuses another field is not."""
    server.queue(Failure(400, {"error": {"message": "Extra inputs are not permitted",
                                         "param": "stream_options", "code": "extra_forbidden"}}))
    events, error = collect(make(server))
    assert error is None and text_of(events) == "echo: hello"
    assert "stream_options" in server.requests[0] and "stream_options" not in server.requests[1]

    server.queue(Failure(400, {"error": {"message": "seed is refused (stream_options is fine)",
                                         "param": "seed"}}))
    error = fail(make(server))
    assert isinstance(error, BadRequestError) and error.param == "seed"
    assert len(server.requests) == 3  # not sent again


@pytest.mark.parametrize(("body", "param"), [
    ({"error": {"message": "Unknown parameter: 'logit_bias'"}}, "logit_bias"),
    ({"error": {"message": "Invalid value", "param": "include[0]"}}, "include"),
    ({"error": {"message": "Unsupported value: 'temperature' does not support 0.2 with this "
                           "model.", "param": "temperature", "code": "unsupported_value"}},
     "temperature"),
    ({"error": {"message": "Invalid 'messages[1].content': empty"}}, None),
])
def test_a_bad_request_carries_the_field_it_refused(server: FakeOpenAI, body: Any,
                                                    param: str | None) -> None:
    server.queue(Failure(400, body))
    error = fail(make(server))
    assert isinstance(error, BadRequestError) and error.param == param


def test_odd_but_legal_chunks(server: FakeOpenAI) -> None:
    server.queue(RawSSE(sse(
        ": keep-alive\n\n",
        # Azure's first chunk: empty choices, empty id and model, prompt filter results
        {"id": "", "object": "", "created": 0, "model": "", "choices": [],
         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]},
        # llama.cpp: content null in the first chunk
        obj([choice({"role": "assistant", "content": None})]),
        ": OPENROUTER PROCESSING\n\n",
        # role in every chunk (OpenRouter, Gemini)
        obj([choice({"role": "assistant", "content": "Hel"})]),
        obj([choice({"role": "assistant", "content": "lo"}, finish="")]),  # old Ollama: ""
        # Azure async content filter: a choice without a delta
        obj([choice(None, content_filter_results={"hate": {"filtered": False}})]),
        obj([choice({"content": None})]),
        obj([choice({})]),
        "data:{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,"
        "\"model\":\"fake-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},"
        "\"finish_reason\":null}]}\n\n",  # data: without the space
        obj([choice({}, finish="stop")]),
        obj([choice(None, content_filter_results={})]),  # after the finish chunk
        # usage-only chunk with extra fields
        obj([], usage={"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24,
                       "prompt_cache_hit_tokens": 0}),
        ": trailing comment\n\n",
    )))
    events = events_ok(make(server))
    assert text_of(events) == "Hello!"
    assert all(e.text or e.reasoning for e in events if isinstance(e, Delta))  # no empty deltas
    assert "null" not in text_of(events)
    done = done_of(events)
    assert done.finish_reason == "stop"
    assert done.usage == Usage(21, 3)
    assert done.model == "fake-model"


def test_finish_reason_on_the_last_text_chunk(server: FakeOpenAI) -> None:
    server.queue(RawSSE(sse(obj([choice({"content": "Whole phrase at once."}, finish="stop")]))))
    events = events_ok(make(server))
    assert text_of(events) == "Whole phrase at once."
    assert done_of(events).finish_reason == "stop"


def test_usage_on_every_chunk_keeps_the_last(server: FakeOpenAI) -> None:
    server.queue(RawSSE(sse(
        obj([choice({"content": "a"})], usage={"prompt_tokens": 5, "completion_tokens": 1}),
        obj([choice({"content": "b"}, finish="stop")],
            usage={"prompt_tokens": 5, "completion_tokens": 2}),
    )))
    events = events_ok(make(server))
    assert text_of(events) == "ab"
    assert done_of(events).usage == Usage(5, 2)


def test_missing_finish_reason_gives_done_none(server: FakeOpenAI) -> None:
    server.queue(Reply("partial answer", finish=None, usage=(10, 5)))
    events = events_ok(make(server))
    assert text_of(events) == "partial answer"
    done = done_of(events)
    assert done.finish_reason is None
    assert done.usage == Usage(10, 5)


def test_missing_done_marker_is_fine(server: FakeOpenAI) -> None:
    server.queue(Reply("no done marker", done=False))
    events = events_ok(make(server))
    assert text_of(events) == "no done marker"
    assert done_of(events).finish_reason == "stop"


def test_ollama_midstream_error_shape_is_cut_short(server: FakeOpenAI) -> None:
    # Ollama /v1: some text, one empty chunk, then the body ends: no finish, no [DONE]
    server.queue(RawSSE(sse(obj([choice({"role": "assistant", "content": "so far"})]),
                            obj([choice({"role": "assistant", "content": ""})]), done=False)))
    events = events_ok(make(server))
    assert text_of(events) == "so far"
    assert done_of(events).finish_reason is None


def test_no_usage_when_server_ignores_the_option(server: FakeOpenAI) -> None:
    server.queue(Reply("hi", usage=None))
    assert done_of(events_ok(make(server))).usage == Usage(None, None)


# == errors inside a 200 stream =================================================================


def test_empty_200_body(server: FakeOpenAI) -> None:
    server.queue(RawSSE(b""))
    error = fail(make(server))
    assert isinstance(error, EmptyAnswerError)


def test_only_done_marker_is_empty(server: FakeOpenAI) -> None:
    server.queue(RawSSE(b"data: [DONE]\n\n"))
    assert isinstance(fail(make(server)), EmptyAnswerError)


def test_llamacpp_error_field_is_reported(server: FakeOpenAI) -> None:
    # llama.cpp's old non-standard SSE field: the SDK drops it; the error must not be lost
    server.queue(RawSSE(sse(obj([choice({"content": "so far"})]), done=False)
                        + b'error: {"code": 500, "message": "context overflow"}\n\n'))
    events, error = collect(make(server))
    assert text_of(events) == "so far"
    assert error is not None and isinstance(error, StreamError | ContextTooLongError)
    assert "context overflow" in str(error)


def test_midstream_data_error(server: FakeOpenAI) -> None:
    server.queue(RawSSE(sse(
        obj([choice({"role": "assistant", "content": "Partial "})]),
        {"error": {"message": "Upstream provider overloaded", "code": 502}},
        done=False,
    )))
    events, error = collect(make(server))
    assert text_of(events) == "Partial "  # what came before the error is still delivered
    assert not any(isinstance(e, Done) for e in events)
    assert error is not None and isinstance(error, StreamError)
    assert "Upstream provider overloaded" in str(error)


def test_midstream_event_error(server: FakeOpenAI) -> None:
    server.queue(RawSSE(
        sse(obj([choice({"content": "abc"})]), done=False)
        + b'event: error\ndata: {"error": {"message": "The server had an error while '
          b'processing your request", "type": "server_error"}}\n\n'))
    events, error = collect(make(server))
    assert text_of(events) == "abc"
    assert error is not None and isinstance(error, StreamError)
    assert "had an error while processing" in str(error)


def test_old_vllm_error_object(server: FakeOpenAI) -> None:
    server.queue(RawSSE(sse(
        {"object": "error", "message": "CUDA out of memory", "type": "InternalServerError",
         "param": None, "code": 500}, done=False)))
    error = fail(make(server))
    assert isinstance(error, StreamError)
    assert "CUDA out of memory" in str(error)


@pytest.mark.parametrize("body", [
    b"data: \n\n",
    b"data:\n\n",
    b"id: 7\n\n",
    b"retry: 1000\n\n",
    b"data: {not json\n\n",
], ids=["empty-data", "empty-data-nospace", "id-only", "retry-only", "broken-json"])
def test_unparseable_event_never_escapes_as_json_error(server: FakeOpenAI, body: bytes) -> None:
    """Legal-but-odd SSE (SERVERS.md point 9): the SDK's decoder dies on these with a bare
    JSONDecodeError. Ours may skip them (keep-alives) or report an ApiError, nothing else; when
    it skips them, nothing around them is lost."""
    server.queue(RawSSE(sse(obj([choice({"content": "x"})]), done=False) + body
                        + sse(obj([choice({"content": "y"}, finish="stop")]))))
    client = make(server)

    async def run() -> tuple[list[Event], BaseException | None]:
        events: list[Event] = []
        try:
            async for event in client.stream(HELLO, "m"):
                events.append(event)
        except Exception as e:  # what escapes is the point of the test
            return events, e
        return events, None

    events, error = asyncio.run(run())
    assert not isinstance(error, json.JSONDecodeError)
    if error is None:
        assert text_of(events) == "xy"
        assert done_of(events).finish_reason == "stop"
    else:
        assert isinstance(error, StreamError), repr(error)
        assert text_of(events) == "x"


def test_unparseable_first_event(server: FakeOpenAI) -> None:
    server.queue(RawSSE(b"data: \n\n" + sse(obj([choice({"content": "x"}, finish="stop")]))))
    events, error = collect(make(server))
    if error is None:
        assert text_of(events) == "x" and done_of(events).finish_reason == "stop"
    else:
        assert isinstance(error, StreamError)


# == HTTP errors ===================================================================================


def test_401_auth(server: FakeOpenAI) -> None:
    server.queue(Failure(401, {"error": {"message": "Invalid API key", "type":
                                         "invalid_request_error", "code": "invalid_api_key"}}))
    error = fail(make(server))
    assert isinstance(error, AuthenticationError)
    assert "OPENAI_API_KEY" in error.hint(repl=False)
    assert "restart" in error.hint(repl=True)
    assert len(server.requests) == 1  # no SDK retries


def test_403_auth(server: FakeOpenAI) -> None:
    server.queue(Failure(403, {"error": {"message": "Country, region, or territory not "
                                                    "supported"}}))
    error = fail(make(server))
    assert isinstance(error, PermissionDeniedError)
    assert "Country, region" in str(error)


@pytest.mark.parametrize("body", [
    {"error": {"message": "model 'x' not found", "type": "api_error"}},
    {"error": "model 'x' not found, try pulling it first"},
    {"error": {"message": "The model `x` does not exist or you do not have access to it.",
               "type": "invalid_request_error", "code": "model_not_found"}},
], ids=["ollama-v1", "ollama-native", "openai"])
def test_404_model_not_found(server: FakeOpenAI, body: Any) -> None:
    server.queue(Failure(404, body))
    error = fail(make(server), model="x")
    assert isinstance(error, ModelNotFoundError)
    assert "'x'" in str(error)
    assert "/model" not in str(error) and "-m" not in str(error)
    assert error.hint(repl=True).startswith("choose another with /model NAME")
    assert error.hint(repl=False) == "choose another with -m MODEL"


def test_404_wrong_path(server: FakeOpenAI) -> None:
    server.queue(Failure(404, {"error": {"message": "Not Found: no route /v1/v1/chat"}}))
    error = fail(make(server))
    assert isinstance(error, NotFoundError) and not isinstance(error, ModelNotFoundError)
    assert "OPENAI_BASE_URL" in error.line(repl=True)
    assert "OPENAI_BASE_URL" in error.line(repl=False)


@pytest.mark.parametrize("headers, wait", [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after-ms": "1500"}, 1.5),
    ({}, None),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
], ids=["seconds", "ms", "none", "http-date"])
def test_429_rate_limit(server: FakeOpenAI, headers: dict[str, str],
                        wait: float | None) -> None:
    server.queue(Failure(429, {"error": {"message": "Rate limit reached for requests",
                                         "type": "requests", "code": "rate_limit_exceeded"}},
                         headers))
    error = fail(make(server))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == wait
    assert "Rate limit reached" in str(error)
    assert len(server.requests) == 1  # retries=0: one turn, one request


def test_429_insufficient_quota(server: FakeOpenAI) -> None:
    server.queue(Failure(429, {"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}},
        {"retry-after": "1"}))
    error = fail(make(server))
    assert isinstance(error, QuotaExhaustedError)
    assert "exceeded your current quota" in str(error)


def test_402_quota(server: FakeOpenAI) -> None:
    server.queue(Failure(402, {"error": {"message": "Insufficient credits", "code": 402}}))
    error = fail(make(server))
    assert isinstance(error, QuotaExhaustedError)
    assert "Insufficient credits" in str(error)


@pytest.mark.parametrize("body", [
    {"error": {"message": "This model's maximum context length is 128000 tokens. However, your "
                          "messages resulted in 130512 tokens. Please reduce the length of the "
                          "messages.", "type": "invalid_request_error", "param": "messages",
               "code": "context_length_exceeded"}},
    {"error": {"message": "You passed 4000 input tokens and requested 200 output tokens. "
                          "However, the model's context length is only 4096 tokens, resulting "
                          "in a maximum input length of 3896 tokens. Please reduce the length "
                          "of the input prompt.", "type": "BadRequestError", "param": None,
               "code": 400}},
    {"object": "error", "message": "You passed 4000 input tokens and requested 200 output "
                                   "tokens. However, the model's context length is only 4096 "
                                   "tokens.", "type": "BadRequestError", "param": None,
     "code": 400},
    {"error": {"code": 400, "message": "request (13392 tokens) exceeds the available context "
                                       "size (8192 tokens), try increasing it",
               "type": "exceed_context_size_error", "n_prompt_tokens": 13392, "n_ctx": 8192}},
], ids=["openai", "vllm", "vllm-old-shape", "llamacpp"])
def test_400_context_too_long(server: FakeOpenAI, body: Any) -> None:
    server.queue(Failure(400, body))
    error = fail(make(server), model="small-model")
    assert isinstance(error, ContextTooLongError), str(error)
    assert "small-model" in str(error)
    assert "/" not in str(error).split("(")[0]  # no REPL command in the message
    assert "/new" in error.hint(repl=True) and "/model NAME" in error.hint(repl=True)
    assert "-t NAME" in error.hint(repl=False) and "-m MODEL" in error.hint(repl=False)


@pytest.mark.parametrize("body", [
    {"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 13392,
               "n_ctx": 8192, "message": "the request exceeds the available context size, try "
                                         "increasing it " + "(details) " * 45}},
    {"error": {"message": "context length exceeded: " + "padding " * 60 + "You passed 13392 "
                          "input tokens. However, the model's context length is only 8192 "
                          "tokens."}},
], ids=["fields", "words-past-the-cut"])
def test_the_window_and_the_prompt_size_survive_a_message_cut_to_one_line(
        server: FakeOpenAI, body: Any) -> None:
    """The sizes are the error's fields, read from the server's body before its message is
    cut (at 400 characters): never written into the text to be read back."""
    server.queue(Failure(400, body))
    error = fail(make(server))
    assert isinstance(error, ContextTooLongError)
    assert (error.limit, error.prompt) == (8192, 13392)
    assert len(str(error)) <= 401


def test_400_other_is_bad_request(server: FakeOpenAI) -> None:
    server.queue(Failure(400, {"error": {"message": "Invalid value for 'temperature'",
                                         "type": "invalid_request_error"}}))
    error = fail(make(server))
    assert isinstance(error, BadRequestError)
    assert "Invalid value for 'temperature'" in str(error)


def test_500_html_body(server: FakeOpenAI) -> None:
    html = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 "
            "Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    server.queue(Failure(500, html, {"content-type": "text/html"}))
    error = fail(make(server))
    assert isinstance(error, ServerError)
    text = str(error)
    assert "<" not in text and "nginx" not in text and "<html" not in text.lower()
    assert "HTML" in text
    assert "\n" not in text


def test_503_json_is_server(server: FakeOpenAI) -> None:
    server.queue(Failure(503, {"error": {"message": "The engine is currently overloaded"}}))
    error = fail(make(server))
    assert isinstance(error, ServerError)
    assert "overloaded" in str(error)


def test_error_is_a_plain_string_in_json(server: FakeOpenAI) -> None:
    server.queue(Failure(400, {"error": "No models loaded. Please load a model in the "
                                        "developer page or use the `lms load` command."}))
    error = fail(make(server))
    assert isinstance(error, BadRequestError)
    assert "No models loaded" in str(error)


def test_error_body_is_plain_text(server: FakeOpenAI) -> None:
    server.queue(Failure(400, "Bad request: something is off", {"content-type": "text/plain"}))
    error = fail(make(server))
    assert isinstance(error, BadRequestError)
    assert "something is off" in str(error)


def test_error_body_is_a_list(server: FakeOpenAI) -> None:
    server.queue(Failure(400, [{"error": {"code": 400, "message": "Invalid JSON payload "
                                          "received. Unknown name \"foo\"",
                                          "status": "INVALID_ARGUMENT"}}]))
    error = fail(make(server))
    assert isinstance(error, BadRequestError)
    assert "Invalid JSON payload received" in str(error)


def test_error_body_is_empty(server: FakeOpenAI) -> None:
    server.queue(Failure(500, b""))
    error = fail(make(server))
    assert isinstance(error, ServerError)
    assert "500" in str(error)


# == connection and timeouts =======================================================================


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_connection_refused() -> None:
    port = _closed_port()
    client = ChatClient(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", timeout=5,
                        retries=0, local_servers=())
    started = time.monotonic()
    events, error = collect(client)
    assert events == []
    assert error is not None and isinstance(error, ConnectionFailedError)
    assert f"127.0.0.1:{port}" in str(error)
    assert time.monotonic() - started < 5


def test_stalled_stream_times_out_on_our_deadline(server: FakeOpenAI) -> None:
    server.httpd.block_on_close = False  # do not wait for the sleeping handler at teardown
    server.queue(Reply("never arrives in time", stall=3))
    started = time.monotonic()
    events, error = collect(make(server, timeout=0.5))
    elapsed = time.monotonic() - started
    assert error is not None and isinstance(error, TimedOutError)
    assert "0.5" in str(error)
    assert text_of(events) == ""
    assert elapsed < 1.5, elapsed


# == the key never leaks ==========================================================================


@pytest.mark.parametrize("script", [
    Failure(401, {"error": {"message": f"Incorrect API key provided: {KEY}.",
                            "type": "invalid_request_error", "code": "invalid_api_key"}}),
    Failure(400, {"error": f"bad key {KEY}"}),
    Failure(400, f"plain text with {KEY} inside"),
    Failure(500, {"error": {"message": f"internal: Authorization: Bearer {KEY}"}}),
    Failure(429, {"error": {"message": f"slow down {KEY}", "code": "insufficient_quota"}}),
    Failure(404, [{"error": {"message": f"model not found for key {KEY}"}}]),
    Failure(400, {"error": {"message": f"context length exceeded for {KEY}"}}),
    RawSSE(sse({"error": {"message": f"mid-stream failure for {KEY}"}}, done=False)),
    RawSSE(b'event: error\ndata: {"error": {"message": "evt ' + KEY.encode() + b'"}}\n\n'),
    RawSSE(sse({"object": "error", "message": f"old vllm echoes {KEY}"}, done=False)),
], ids=["401", "400-string", "400-text", "500", "429", "404-list", "context", "midstream",
        "event-error", "old-vllm"])
def test_api_key_never_in_error_message(server: FakeOpenAI, script: Any) -> None:
    server.queue(script)
    error = fail(make(server))
    assert KEY not in str(error), str(error)
    assert KEY not in repr(error)
    assert all(KEY not in str(arg) for arg in error.args)


def test_api_key_not_partly_leaked_by_truncation(server: FakeOpenAI) -> None:
    # a long plain-text error body that echoes the key right where the message is cut
    body = "x" * (300 - len(KEY) + 1) + KEY + " and more text after it"
    server.queue(Failure(400, body))
    error = fail(make(server))
    assert KEY[:-1] not in str(error), str(error)


# == no key ========================================================================================


def test_no_key_and_no_base_url() -> None:
    client = ChatClient(api_key=None, base_url=None, timeout=5, local_servers=())
    events, error = collect(client)
    assert events == []
    assert error is not None and isinstance(error, NoKeyError)
    assert "OPENAI_API_KEY" in str(error)
    assert "localhost" not in str(error)


def test_no_key_suggests_a_listening_local_server() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        client = ChatClient(api_key=None, base_url=None, timeout=5,
                            local_servers=((_closed_port(), "Nothing"), (port, "Test")))
        error = fail(client)
    finally:
        listener.close()
    assert isinstance(error, NoKeyError)
    assert f"OPENAI_BASE_URL=http://localhost:{port}/v1" in str(error)
    assert "Test" in str(error)
    assert "Nothing" not in str(error)


def test_no_key_with_base_url_works_for_local_servers(server: FakeOpenAI) -> None:
    events = events_ok(make(server, key=None))
    assert text_of(events) == "echo: hello"
    assert {k.lower(): v for k, v in server.headers[0].items()}["authorization"] == \
        "Bearer no-key-needed"


def test_fakeserver_chunk_helper_matches_our_builder() -> None:
    # keeps the RawSSE bodies above honest: same shape as the fake server's own chunks
    ours = sse(obj([choice({"content": "x"})]), done=False).decode()
    theirs = chunk({"content": "x"})
    assert json.loads(ours[len("data: "):]) == json.loads(theirs[len("data: "):])


# == automatic retries =============================================================================


def retrying_of(events: list[Event]) -> list[Retrying]:
    return [e for e in events if isinstance(e, Retrying)]


@pytest.mark.parametrize("status", [502, 503, 504, 500, 408, 409])
def test_transient_failure_is_retried_then_answered(server: FakeOpenAI, status: int) -> None:
    server.queue(Failure(status, {"error": {"message": "busy"}}))
    events = events_ok(make(server, retries=2))
    assert text_of(events) == "echo: hello"
    [retry] = retrying_of(events)
    assert retry.delay == 0.05
    assert f"({status})" in str(retry) and "retrying in 0.05 s..." in str(retry)
    assert events.index(retry) == 0  # said before anything else, before the wait
    assert len(server.requests) == 2


def test_retries_back_off_and_stop_at_the_limit(server: FakeOpenAI) -> None:
    server.queue(Failure(502), Failure(503), Failure(504))
    events, error = collect(make(server, retries=2, backoff=0.1))
    assert isinstance(error, ServerError) and error.status == 504
    assert [r.delay for r in retrying_of(events)] == [0.1, 0.2]  # about 1 s then 2 s, scaled
    assert str(retrying_of(events)[0]) == "server busy (502), retrying in 0.1 s..."
    assert len(server.requests) == 3


def test_retries_zero_turns_them_off(server: FakeOpenAI) -> None:
    server.queue(Failure(503))
    events, error = collect(make(server, retries=0))
    assert isinstance(error, ServerError)
    assert retrying_of(events) == []
    assert len(server.requests) == 1


def test_rate_limit_is_retried_after_the_wait_the_server_asks(server: FakeOpenAI) -> None:
    server.queue(Failure(429, {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
                         {"retry-after-ms": "300"}))
    started = time.monotonic()
    events = events_ok(make(server, retries=2))
    assert time.monotonic() - started >= 0.3
    assert [str(r) for r in retrying_of(events)] == ["rate limited (429), retrying in 0.3 s..."]
    assert text_of(events) == "echo: hello"


@pytest.mark.parametrize("status, cls", [(429, RateLimitError), (503, ServerError)])
def test_a_wait_longer_than_20_s_is_not_retried_and_said(server: FakeOpenAI, status: int,
                                                         cls: type[ApiError]) -> None:
    server.queue(Failure(status, {"error": {"message": "slow down"}}, {"retry-after": "60"}))
    events, error = collect(make(server, retries=2))
    assert isinstance(error, cls) and retrying_of(events) == []
    assert error.hint(repl=True) == error.hint(repl=False) == "try again in 60 s"
    assert len(server.requests) == 1


@pytest.mark.parametrize("script", [
    Failure(400, {"error": {"message": "Invalid value for 'temperature'"}}),
    Failure(401, {"error": {"message": "Invalid API key"}}),
    Failure(403, {"error": {"message": "Country, region, or territory not supported"}}),
    Failure(404, {"error": {"message": "model 'x' not found"}}),
    Failure(429, {"error": {"message": "quota", "code": "insufficient_quota"}}),
    Failure(402, {"error": {"message": "Insufficient credits"}}),
    Failure(400, {"error": {"message": "maximum context length is 8192 tokens",
                            "code": "context_length_exceeded"}}),
    RawSSE(b""),  # llama-cpp-python's "too long for the context": chat.py trims and resends
], ids=["400", "401", "403", "404", "insufficient_quota", "402", "context", "empty-body"])
def test_failures_that_retrying_cannot_fix_are_not_retried(server: FakeOpenAI,
                                                           script: Any) -> None:
    server.queue(script)
    events, error = collect(make(server, retries=2))
    assert error is not None and not error.retryable
    assert retrying_of(events) == []
    assert len(server.requests) == 1


def test_done_without_any_answer_is_retried(server: FakeOpenAI) -> None:
    server.queue(RawSSE(b"data: [DONE]\n\n"))
    events = events_ok(make(server, retries=2))
    assert [r.reason for r in retrying_of(events)] == ["empty answer"]
    assert text_of(events) == "echo: hello"


def test_no_retry_once_the_answer_has_begun(server: FakeOpenAI) -> None:
    server.queue(RawSSE(sse(obj([choice({"content": "Partial "})]),
                            {"error": {"message": "Upstream overloaded", "code": 502}},
                            done=False)))
    events, error = collect(make(server, retries=2))
    assert isinstance(error, StreamError) and error.partial
    assert text_of(events) == "Partial " and retrying_of(events) == []
    assert len(server.requests) == 1


def test_refused_connection_is_retried_then_said() -> None:
    client = ChatClient(api_key=KEY, base_url=f"http://127.0.0.1:{_closed_port()}/v1",
                        timeout=5, retries=2, backoff=0.05, local_servers=())
    events, error = collect(client)
    assert isinstance(error, ConnectionFailedError)
    assert [r.reason for r in retrying_of(events)] == ["cannot connect", "cannot connect"]


def test_a_reset_connection_names_its_cause_never_empty_parentheses(server: FakeOpenAI) -> None:
    server.queue(Reset())
    error = fail(make(server, retries=0))
    assert isinstance(error, ConnectionFailedError)
    assert not str(error).endswith("()"), str(error)
    assert str(error).endswith("(ReadError)"), str(error)


def test_dead_pooled_connection_is_retried_on_a_fresh_one(server: FakeOpenAI) -> None:
    """llama-cpp-python after a prompt too long for its context: HTTP 200, an empty body, and
    the kept-alive connection dead for the next request (the trimmed resend)."""
    server.queue(PoisonedKeepAlive())
    client = make(server, retries=0)  # not a retry of the server's failure: done even when off

    async def twice() -> tuple[ApiError | None, list[Event], ApiError | None]:
        _, first = await _collect(client, "m", HELLO)
        events, second = await _collect(client, "m", [{"role": "user", "content": "trimmed"}])
        await client.aclose()
        return first, events, second

    first, events, second = asyncio.run(twice())
    assert isinstance(first, EmptyAnswerError)
    assert second is None, str(second)
    assert text_of(events) == "echo: trimmed"
    assert [str(r) for r in retrying_of(events)] == [
        "the server had closed the connection, retrying now..."]
    assert server.resets == 1 and len(server.requests) == 2


# == through the REPL and the command line =========================================================


def test_repl_says_each_retry_and_stores_the_question_once(api_env: dict[str, str],
                                                           server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=2, backoff=0.05).start("t")
        server.queue(Failure(503, {"error": {"message": "overloaded"}}), Failure(502))
        out = await s.line("are you there?")
        assert "server busy (503), retrying in 0.05 s..." in out
        assert "server busy (502), retrying in 0.1 s..." in out
        assert "echo: are you there?" in out and "error:" not in out
        assert [(m.role, m.content) for m in s.store.messages("t")] == [
            ("user", "are you there?"), ("assistant", "echo: are you there?")]
        assert len(server.requests) == 3
        assert all(r["messages"] == server.requests[0]["messages"] for r in server.requests)
        await s.quit()

    asyncio.run(go())


def test_llama_cpp_overflow_then_the_trimmed_resend_gets_its_answer(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    """As seen against llama-cpp-python: the too-long prompt gets HTTP 200 and an empty body,
    chat.py resends it trimmed, and that resend meets the dead kept-alive connection."""
    async def go() -> None:
        s = await Session(retries=0).start("t")
        for n in range(3):
            await s.line(f"turn {n} " + "word " * 50)
        server.queue(PoisonedKeepAlive())
        out = await s.line("one more")
        assert "too long" in out and "earliest messages" in out
        assert "the server had closed the connection, retrying now..." in out
        assert "echo: one more" in out and "error:" not in out
        assert server.resets == 1
        assert len(server.requests[-1]["messages"]) < len(server.requests[-2]["messages"])
        assert [m.content for m in s.store.messages("t")][-2:] == ["one more", "echo: one more"]
        await s.quit()

    asyncio.run(go())


def test_retries_come_from_the_config_file(api_env: dict[str, str], server: FakeOpenAI,
                                          isolated: dict[str, str]) -> None:
    config = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("retries = 1\n")
    server.queue(Failure(503), Failure(503), Failure(503))
    done = subprocess.run([sys.executable, "-m", "repl", "-t", "t", "hi"], env=api_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and len(server.requests) == 2  # the first try and one retry
    assert "server busy (503), retrying in 1 s..." in done.stdout + done.stderr
    assert done.stderr.splitlines()[-1].startswith("chatrepl: the server failed (503")
    config.write_text("retries = -1\n")
    with pytest.raises(ConfigError, match="retries must be 0 \\(off\\) or more"):
        config_mod.load()


def test_ctrl_c_during_the_wait_cancels_it_like_an_answer(api_env: dict[str, str],
                                                          server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=2, backoff=30).start("t")
        server.queue(Failure(503))
        await s.line("hello", wait=False)
        await s.until(lambda: "retrying in 30 s..." in s.text)
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        assert time.monotonic() - started < 5
        assert "(interrupted before the answer began; /retry sends it again)" in s.text
        await asyncio.sleep(0.2)
        assert len(server.requests) == 1  # the retry was never sent
        assert [(m.role, m.content) for m in s.store.messages("t")] == [("user", "hello")]
        out = await s.line("again")  # the REPL goes on
        assert "echo: again" in out
        await s.quit()

    asyncio.run(go())


def test_repl_errors_suggest_repl_commands(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(404, {"error": {"message": "model 'nope' not found"}}))
        out = await s.line("hi")
        assert out.count("error:") == 1
        assert "not found" in out and "choose another with /model NAME" in out
        assert "-m MODEL" not in out
        await s.quit()

    asyncio.run(go())


@pytest.mark.parametrize("script, expected", [
    (Failure(404, {"error": {"message": "model 'nope' not found"}}),
     "choose another with -m MODEL"),
    (Failure(400, {"error": {"message": "maximum context length is 10 tokens",
                             "code": "context_length_exceeded"}}),
     "use a new thread (-t NAME) or a model with a larger context (-m MODEL)"),
], ids=["model", "context"])
def test_one_shot_errors_suggest_flags(api_env: dict[str, str], server: FakeOpenAI,
                                       script: Failure, expected: str) -> None:
    server.queue(script, script)  # the context error comes back after the trimmed resend too
    done = subprocess.run([sys.executable, "-m", "repl", "-t", "t", "-m", "nope", "hi"],
                          env=api_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("chatrepl: ") and line.endswith(expected), line
    assert "/model" not in line and "/new" not in line and "restart" not in line


def test_the_client_is_warmed_once_the_prompt_is_up(api_env: dict[str, str],
                                                    server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.until(lambda: s.ctx.client.ready, timeout=10)  # nothing sent, nothing typed
        assert server.requests == []
        out = await s.line("first")
        assert "echo: first" in out
        await s.quit()

    asyncio.run(go())


def test_warming_never_raises_and_leaves_errors_to_the_send() -> None:
    async def go() -> None:
        no_key = ChatClient(api_key=None, base_url=None, timeout=5, local_servers=())
        await no_key.warm()
        assert not no_key.ready
        _, error = await _collect(no_key, "m", HELLO)
        assert isinstance(error, NoKeyError)
        bad = ChatClient(api_key=KEY, base_url="not a url at all", timeout=5, retries=0,
                         local_servers=())
        await bad.warm()  # whatever the SDK thinks of it, warming is quiet
        _, error = await _collect(bad, "m", HELLO)
        assert isinstance(error, ApiError)
        await bad.aclose()

    asyncio.run(go())


# == the error hierarchy ===========================================================================


def _error_classes() -> set[type[BaseException]]:
    import importlib
    import pkgutil

    import repl
    from repl.errors import ChatreplError

    for info in pkgutil.walk_packages(repl.__path__, "repl."):
        if info.name not in ("repl.__main__",):
            importlib.import_module(info.name)
    found: set[type[BaseException]] = set()
    todo: list[type[BaseException]] = [ChatreplError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_of_the_package_is_in_the_drawing() -> None:
    import repl.errors

    drawing = repl.errors.__doc__ or ""
    drawn = set(re.findall(r"^[ |+-]*(\w+Error) ", drawing, re.MULTILINE))
    missing = sorted(cls.__name__ for cls in _error_classes()
                     if cls.__module__.startswith("repl.") and cls.__name__ not in drawn)
    assert missing == []


def test_api_errors_are_classes_with_a_hint_for_each_place() -> None:
    from repl.commands.registry import CommandError as FromRegistry
    from repl.errors import CommandError

    assert FromRegistry is CommandError
    for cls in _error_classes():
        if issubclass(cls, ApiError):
            error = cls("something failed")
            assert not hasattr(error, "kind")
            assert error.partial is False and cls("x", partial=True).partial is True
            assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"
            for repl in (True, False):
                hint = error.hint(repl=repl)
                assert "-m " not in hint and "-t " not in hint if repl else "/" not in hint
                line = error.line(repl=repl)
                assert line == "something failed" + (f"; {hint}" if hint else "")


def test_thread_settings_are_sent_as_request_fields(api_env: dict[str, str],
                                                    server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("tuned")
        s.ctx.save_setting("temperature", 0.25)
        s.ctx.save_setting("effort", "low")
        s.ctx.save_setting("max_tokens", 64)
        s.ctx.save_setting("not-a-request-field", "kept, not sent")
        await s.line("hi")
        await s.quit()

    asyncio.run(go())
    request = server.requests[-1]
    assert (request["temperature"], request["reasoning_effort"], request["max_tokens"]) == \
        (0.25, "low", 64)
    assert "not-a-request-field" not in request and "effort" not in request

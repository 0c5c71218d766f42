"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions streaming protocol,
and the Responses API (``POST /v1/responses``: its event sequence, a response store for
``previous_response_id`` that ``DELETE /v1/responses/{id}`` empties, ``include`` refused on
request, models served only there, encrypted reasoning it did not make refused, LiteLLM's
chat-completions bridge in front of llama-cpp-python: ``bridge``). A reply longer than the
request's ``max_tokens`` / ``max_output_tokens`` is cut there, finishing ``length``.

It records every request it gets (so tests can assert what history was sent) and answers from a
queue of scripted replies; with nothing queued it answers "echo: <last user message>".
``PoisonedKeepAlive`` replays llama-cpp-python after a prompt too long for its context: an empty
200 body on a connection that looks reusable, which resets the next request sent on it.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """A streamed answer: ``text`` split into ``pieces`` deltas, ``delay`` seconds apart."""

    text: str = ""
    pieces: int = 4
    delay: float = 0.0
    finish: str | None = "stop"
    usage: tuple[int, int] | bool | None = True  # True: counted like a ~4 chars/token tokenizer
    reasoning: str = ""
    done: bool = True  # send [DONE]
    stall: float = 0.0  # sleep this long (sending nothing) before the first delta
    reasoning_key: str = "reasoning_content"  # or "reasoning" (vLLM, Ollama, OpenRouter)
    # (id, name, arguments) of tool calls, streamed as OpenAI does: the first fragment of each
    # with its index, id, type and name, then its arguments in pieces; content null throughout
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    cached: int = 0  # Responses: input tokens reported as read from the prompt cache
    phase: str = "final_answer"  # Responses: the message item's phase ("": none, as bridges)


@dataclass
class ResponseFailed:
    """Responses: ``text`` streamed, then ``response.failed`` with this error."""

    message: str = "The model failed to answer."
    code: str = "server_error"
    text: str = ""


@dataclass
class ErrorEvent:
    """Responses: ``text`` streamed, then an ``error`` event."""

    message: str = "An error occurred while processing your request."
    code: str = "server_error"
    text: str = ""


@dataclass
class Failure:
    status: int
    body: Any = field(default_factory=lambda: {"error": {"message": "boom", "type": "x"}})
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RawSSE:
    """Send these bytes as a 200 text/event-stream body, as they are, then hold the connection
    open ``stall`` seconds, sending nothing (a server stuck mid-answer)."""

    body: bytes
    stall: float = 0.0


@dataclass
class Reset:
    """Reset the connection (TCP RST) without answering: a server that died under the request."""


@dataclass
class PoisonedKeepAlive:
    """An empty 200 event-stream body, the connection kept open as if reusable; the next request
    that arrives on it gets a reset instead of an answer (it is counted in ``resets``)."""


Script = Reply | Failure | RawSSE | Reset | PoisonedKeepAlive | ResponseFailed | ErrorEvent

# LiteLLM's Responses bridge turns a replayed output_text part into list content, which
# llama-cpp-python's chat formats refuse: its 500, wrapped by LiteLLM, as it came (SERVERS.md)
BRIDGE_500 = {"error": {
    "message": "litellm.APIError: APIError: OpenAIException - 1 validation error for "
               "ChatCompletionRequestAssistantMessage\ncontent\n  Input should be a valid string "
               "[type=string_type, input_value=[{'type': 'text', 'text': 'echo: one'}], "
               "input_type=list]\n    For further information visit "
               "https://errors.pydantic.dev/2.11/v/string_type\nReceived Model Group=gemma3\n"
               "Available Model Group Fallbacks=None",
    "type": None, "param": None, "code": "500"}}

RESPONSES_ONLY = ("This model is only supported in v1/responses and not in "
                  "v1/chat/completions.")

# The bodies real servers send for a prompt of ``p`` tokens over a window of ``n`` (SERVERS.md).
CONTEXT_ERRORS: dict[str, Callable[[int, int], Any]] = {
    "openai": lambda n, p: {"error": {
        "message": f"This model's maximum context length is {n} tokens. However, your messages "
                   f"resulted in {p} tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
    "vllm": lambda n, p: {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                          "message": f"You passed {p} input tokens and requested 0 output tokens. "
                                     f"However, the model's context length is only {n} tokens, "
                                     f"resulting in a maximum input length of {n} tokens. Please "
                                     "reduce the length of the input prompt."},
    "llama.cpp": lambda n, p: {"error": {
        "code": 400, "message": f"request ({p} tokens) exceeds the available context size ({n} "
                                "tokens), try increasing it",
        "type": "exceed_context_size_error", "n_prompt_tokens": p, "n_ctx": n}},
    "old llama.cpp": lambda n, p: {"error": {
        "code": 400, "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error", "n_prompt_tokens": p, "n_ctx": n}},
    "transformers": lambda n, p: {"detail": f"The prompt has {p} tokens, but the model takes at "
                                            f"most {n}"},
}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          usage: dict[str, int] | None = None, choices: bool = True) -> str:
    obj: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                           "model": "fake-model", "choices": []}
    if choices:
        obj["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    if usage is not None:
        obj["usage"] = usage
    return f"data: {json.dumps(obj)}\n\n"


def split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // max(pieces, 1)))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.times: list[float] = []  # time.perf_counter() at each request's arrival
        self.resets = 0  # requests answered by resetting the connection
        self.scripts: deque[Script] = deque()
        self.reject_stream_options = False
        self.paths: list[str] = []  # the path of each request in ``requests``
        # Responses API: models chat completions refuses with its 404, a refused ``include``,
        # and the responses stored (store: true), by id, with the context each was given
        self.responses_only: set[str] = set()
        self.refuse_include = False
        self.bridge = False  # LiteLLM's bridge: BRIDGE_500 for output_text, no phase, no include
        self.encrypted: set[str] = set()  # the encrypted reasoning it made (clear: another org)
        self.stored: dict[str, list[dict[str, Any]]] = {}
        self._ids = 0
        self.deletes: list[str] = []  # the path of each DELETE request
        self.undeletable: set[str] = set()  # response ids a DELETE fails for (a 500)
        # A tokenizer of ``chars_per_token`` (4 tokens of overhead a message), and a context
        # window: a request whose prompt is larger is refused with a context error of the given
        # server's shape (CONTEXT_ERRORS), before any scripted reply is used.
        self.chars_per_token = 4
        self.context_limit: int | None = None
        self.empty_when_too_long = False  # answer a prompt over the limit with an empty body
        self.blank_when_too_long = False  # ... with an empty answer ending in "stop" (LiteLLM)
        self.context_style = "openai"
        # what the model is given, as llama-cpp-python's template-based chat formats do: a list
        # content becomes nothing, a system message is dropped (they count for nothing, and the
        # echo does not see them); and the tokens its chat template adds to every request
        self.strings_only = False
        self.drop_system = False
        self.template_tokens = 0
        self.stream_usage = True  # False: stream_options.include_usage ignored (llama-cpp-python)
        # True: an answer cut at the output limit ends as if complete ("stop", Responses
        # "completed"), its usage at the limit (transformers serve's Responses API)
        self.stop_at_limit = False
        self.no_responses = False  # no /v1/responses route: a 404 {"detail": "Not Found"}
        self.proxied = False  # ... as LiteLLM passes it on, naming the model group
        # what GET /v1/models lists (each entry as the server sends it) and GET /props answers
        self.models: list[dict[str, Any]] = [
            {"id": "fake-model", "object": "model", "owned_by": "test"}]
        self.props: dict[str, Any] = {}
        self.gets: list[tuple[str, dict[str, str]]] = []  # (path, headers) of each GET
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.gets.append((self.path, dict(self.headers)))
                if self.path.endswith("/props"):
                    outer._json(self, 200, outer.props)
                    return
                outer._json(self, 200, {"object": "list", "data": outer.models})

            def do_DELETE(self) -> None:
                outer._delete(self)

            def do_POST(self) -> None:
                outer.times.append(time.perf_counter())
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if getattr(self, "poisoned", False):
                    outer._reset(self)
                    return
                outer.requests.append(body)
                outer.paths.append(self.path)
                outer.headers.append(dict(self.headers))
                if self.path.endswith("/responses"):
                    outer._respond(self, body)
                else:
                    outer._answer(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # a short poll interval: stop() waits for it, and every test stops a server
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def queue(self, *scripts: Script) -> None:
        self.scripts.extend(scripts)

    def sent_messages(self, index: int = -1) -> list[dict[str, str]]:
        return list(self.requests[index]["messages"])

    def sent_content(self, index: int = -1) -> Any:
        """The content of the last message of request ``index``: a string, or a list of parts
        exactly as it arrived."""
        return self.requests[index]["messages"][-1]["content"]

    def tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(len(c if isinstance(c := m.get("content"), str) else json.dumps(c))
                   // self.chars_per_token + 4 for m in messages)

    def seen(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages as the model is given them (``strings_only``, ``drop_system``)."""
        return [{**m, "content": "" if self.strings_only and isinstance(m.get("content"), list)
                 else m.get("content")} for m in messages
                if not (self.drop_system and m.get("role") == "system")]

    def counted(self, messages: list[dict[str, Any]]) -> int:
        """The prompt's tokens as this server counts them."""
        return self.tokens(self.seen(messages)) + self.template_tokens

    # -- answering ------------------------------------------------------------------------------

    def _json(self, h: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if body.get("model") in self.responses_only:
            self._json(h, 404, {"error": {"message": RESPONSES_ONLY, "type":
                                          "invalid_request_error", "param": "model",
                                          "code": None}})
            return
        if self.reject_stream_options and "stream_options" in body:
            self._json(h, 400, {"error": {"message": "Unknown parameter: 'stream_options'"}})
            return
        prompt = self.counted(body["messages"])
        over = self.context_limit is not None and prompt > self.context_limit
        if over and self.empty_when_too_long:  # llama-cpp-python: a 200 with an empty body
            self._empty(h)
            return
        if over and not self.blank_when_too_long:
            self._json(h, 400, CONTEXT_ERRORS[self.context_style](self.context_limit or 0, prompt))
            return
        # over the window behind LiteLLM: llama's empty reply as an empty answer ending in stop
        script = Reply("") if over else self.scripts.popleft() if self.scripts else None
        if script is None:
            last = next((m["content"] for m in reversed(self.seen(body["messages"]))
                         if m["role"] == "user"), "")
            script = Reply(f"echo: {last}")
        script = self._limited(script, body)
        if isinstance(script, Reset):
            self._reset(h)
            return
        if isinstance(script, PoisonedKeepAlive):
            self._empty(h)
            h.poisoned = True  # type: ignore[attr-defined]
            return
        if isinstance(script, Failure):
            self._failure(h, script)
            return
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("connection", "close")
        h.end_headers()
        try:
            if isinstance(script, RawSSE):
                h.wfile.write(script.body)
                h.wfile.flush()
                time.sleep(script.stall)
            elif isinstance(script, Reply):
                self._stream(h, script, bool(body.get("stream_options")), body["messages"])
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    @staticmethod
    def _empty(h: BaseHTTPRequestHandler) -> None:
        """A 200 event stream with an empty body, the connection kept open."""
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("content-length", "0")
        h.end_headers()

    def _failure(self, h: BaseHTTPRequestHandler, script: Failure) -> None:
        h.send_response(script.status)
        data = script.body if isinstance(script.body, bytes) else (
            script.body.encode() if isinstance(script.body, str)
            else json.dumps(script.body).encode())
        for k, v in script.headers.items():
            h.send_header(k, v)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _reset(self, h: BaseHTTPRequestHandler) -> None:
        self.resets += 1
        # linger 0: close() sends RST, not FIN (socketserver's own close would shut down first)
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
        h.close_connection = True

    def _stream(self, h: BaseHTTPRequestHandler, r: Reply, want_usage: bool,
                messages: list[dict[str, str]]) -> None:
        w = h.wfile
        w.write(chunk({"role": "assistant", "content": ""}).encode())
        w.flush()
        if r.stall:
            time.sleep(r.stall)
        if r.reasoning:
            w.write(chunk({r.reasoning_key: r.reasoning}).encode())
        for piece in split(r.text, r.pieces) if r.text else []:
            if r.delay:
                time.sleep(r.delay)
            w.write(chunk({"content": piece}).encode())
            w.flush()
        for index, (call_id, name, arguments) in enumerate(r.tool_calls):
            w.write(chunk({"content": None, "tool_calls": [{
                "index": index, "id": call_id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}).encode())
            for piece in split(arguments, 3) if arguments else []:
                w.write(chunk({"content": None, "tool_calls": [{
                    "index": index, "function": {"arguments": piece}}]}).encode())
            w.flush()
        if r.finish:
            w.write(chunk({}, finish=r.finish).encode())
        if r.usage and want_usage and self.stream_usage:
            prompt, completion = r.usage if isinstance(r.usage, tuple) else (
                self.counted(messages), len(r.text) // self.chars_per_token)
            u = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion}
            w.write(chunk(usage=u, choices=False).encode())
        if r.done:
            w.write(b"data: [DONE]\n\n")

    # -- the Responses API ------------------------------------------------------------------------

    def sent_input(self, index: int = -1) -> list[Any]:
        """The input items of request ``index``, as they arrived."""
        value = self.requests[index]["input"]
        return [{"role": "user", "content": value}] if isinstance(value, str) else list(value)

    def _delete(self, h: BaseHTTPRequestHandler) -> None:
        """DELETE /v1/responses/{id}: the stored response is forgotten (404 if unknown)."""
        self.deletes.append(h.path)
        rid = h.path.rsplit("/", 1)[-1]
        if rid in self.undeletable:
            self._json(h, 500, {"error": {"message": "deletion failed", "type": "server_error"}})
        elif self.stored.pop(rid, None) is None:
            self._json(h, 404, {"error": {"message": f"No response found with id '{rid}'.",
                                          "type": "invalid_request_error"}})
        else:
            self._json(h, 200, {"id": rid, "object": "response", "deleted": True})

    def _respond(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if self.no_responses and self.proxied:  # LiteLLM 1.108 in front of llama-cpp-python
            model = body.get("model")
            self._json(h, 404, {"error": {"message": "litellm.NotFoundError: NotFoundError: "
                                          'OpenAIException - {"detail":"Not Found"}: LiteLLM: '
                                          f"model group '{model}' failed with the error above. "
                                          "No fallback was attempted.", "code": "404"}})
            return
        if self.no_responses:  # llama-cpp-python (FastAPI): no such route
            self._json(h, 404, {"detail": "Not Found"})
            return
        refusal = self._refusal(body)
        if refusal:
            self._json(h, 400, {"error": {"type": "invalid_request_error", **refusal}})
            return
        prompt = self.tokens([m for m in self.sent_input() if isinstance(m, dict)])
        if self.context_limit is not None and prompt > self.context_limit:
            self._json(h, 400, CONTEXT_ERRORS[self.context_style](self.context_limit, prompt))
            return
        context = [*self.stored.get(body.get("previous_response_id") or "", []),
                   *self.sent_input()]
        script = self.scripts.popleft() if self.scripts else None
        if script is None:
            script = Reply(f"echo: {_last_user_text(context)}")
        script = self._limited(script, body)
        if isinstance(script, Reset):
            self._reset(h)
            return
        if self.bridge and _replays_output_text(body):
            script = Failure(500, BRIDGE_500)
        if isinstance(script, Failure):
            self._failure(h, script)
            return
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("connection", "close")
        h.end_headers()
        try:
            if isinstance(script, RawSSE):
                h.wfile.write(script.body)
                h.wfile.flush()
                time.sleep(script.stall)
            elif not isinstance(script, PoisonedKeepAlive):
                self._response_events(h, script, body, context)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    def _refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The 400 OpenAI answers this request with, if any."""
        if self.refuse_include and "include" in body:
            return {"message": "Unknown parameter: 'include'.", "param": "include",
                    "code": "unknown_parameter"}
        previous = body.get("previous_response_id")
        if previous and previous not in self.stored:
            return {"message": f"Previous response with id '{previous}' not found.",
                    "param": "previous_response_id", "code": "previous_response_not_found"}
        for item in body.get("input") if isinstance(body.get("input"), list) else []:
            sealed = item.get("encrypted_content") if isinstance(item, dict) else None
            if sealed and sealed not in self.encrypted:  # another endpoint's or organisation's
                return {"message": f"The encrypted content for item {item.get('id')} could not "
                                   "be verified.", "param": None,
                        "code": "invalid_encrypted_content"}
        return None

    def _limited(self, script: Script, body: dict[str, Any]) -> Script:
        """A reply cut at the request's output limit, as servers do (finish ``length``)."""
        limit = next((body[k] for k in ("max_tokens", "max_completion_tokens",
                                        "max_output_tokens") if isinstance(body.get(k), int)), 0)
        room = limit * self.chars_per_token
        if isinstance(script, Reply) and limit and len(script.text) > room:
            return replace(script, text=script.text[:room],
                           finish="stop" if self.stop_at_limit else "length")
        return script

    def _response_events(self, h: BaseHTTPRequestHandler, script: Script,
                         body: dict[str, Any], context: list[Any]) -> None:
        """The event sequence the SDK parses: created, in_progress, each output item (added,
        its parts and deltas, done), then completed, incomplete or failed; or an error."""
        self._ids += 1
        rid = f"resp_{self._ids}"
        response: dict[str, Any] = {
            "id": rid, "object": "response", "created_at": 0, "status": "in_progress",
            "model": body.get("model"), "output": [], "usage": None, "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"),
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": body.get("tools", []),
            "store": body.get("store", True),
            "previous_response_id": body.get("previous_response_id")}
        seq = iter(range(1_000_000))

        def send(kind: str, **fields: Any) -> None:
            event = {"type": kind, "sequence_number": next(seq), **fields}
            h.wfile.write(f"event: {kind}\ndata: {json.dumps(event)}\n\n".encode())
            h.wfile.flush()

        send("response.created", response=dict(response))
        send("response.in_progress", response=dict(response))
        r = script if isinstance(script, Reply) else Reply(
            script.text if isinstance(script, ResponseFailed | ErrorEvent) else "")
        if r.stall:
            time.sleep(r.stall)
        output: list[dict[str, Any]] = []
        encrypted = ENCRYPTED in (body.get("include") or []) and not self.bridge
        if r.reasoning:
            output.append(self._reasoning_item(send, len(output), r.reasoning, encrypted))
        if r.text or not r.tool_calls:
            phase = "" if self.bridge else r.phase  # LiteLLM's output items have none
            output.append(self._message_item(send, len(output), replace(r, phase=phase)))
        for call_id, name, arguments in r.tool_calls:
            output.append(self._call_item(send, len(output), call_id, name, arguments))
        if isinstance(script, ErrorEvent):
            send("error", code=script.code, message=script.message, param=None)
            return
        if isinstance(script, ResponseFailed):
            send("response.failed", response={**response, "status": "failed", "error": {
                "code": script.code, "message": script.message}})
            return
        if r.finish is None:
            return  # cut short: no terminal event
        tokens = len(json.dumps(context)) // self.chars_per_token
        reasoning = len(r.reasoning) // self.chars_per_token
        response.update(output=output, usage={
            "input_tokens": tokens, "input_tokens_details": {"cached_tokens": r.cached},
            "output_tokens": len(r.text) // self.chars_per_token + reasoning,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": tokens + len(r.text) // self.chars_per_token + reasoning})
        if r.finish in ("stop", "tool_calls"):
            send("response.completed", response={**response, "status": "completed"})
        else:
            reason = "max_output_tokens" if r.finish == "length" else r.finish
            send("response.incomplete", response={**response, "status": "incomplete",
                                                  "incomplete_details": {"reason": reason}})
        if body.get("store", True):
            self.stored[rid] = [*context, *output]

    def _reasoning_item(self, send: Callable[..., None], index: int, text: str,
                        encrypted: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"id": f"rs_{self._ids}", "type": "reasoning", "summary": []}
        send("response.output_item.added", output_index=index, item=item)
        part = {"type": "summary_text", "text": ""}
        ids = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        send("response.reasoning_summary_part.added", part=part, **ids)
        for piece in split(text, 2):
            send("response.reasoning_summary_text.delta", delta=piece, **ids)
        send("response.reasoning_summary_text.done", text=text, **ids)
        send("response.reasoning_summary_part.done", part={**part, "text": text}, **ids)
        done = {**item, "summary": [{"type": "summary_text", "text": text}]}
        if encrypted:
            done["encrypted_content"] = f"enc:{self._ids}:{len(text)}"
            self.encrypted.add(done["encrypted_content"])
        send("response.output_item.done", output_index=index, item=done)
        return done

    def _message_item(self, send: Callable[..., None], index: int, r: Reply) -> dict[str, Any]:
        item: dict[str, Any] = {"id": f"msg_{self._ids}", "type": "message", "role": "assistant",
                                "status": "in_progress", "content": [],
                                **({"phase": r.phase} if r.phase else {})}
        send("response.output_item.added", output_index=index, item=item)
        ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
        part = {"type": "output_text", "text": "", "annotations": []}
        send("response.content_part.added", part=part, **ids)
        for piece in split(r.text, r.pieces) if r.text else []:
            if r.delay:
                time.sleep(r.delay)
            send("response.output_text.delta", delta=piece, logprobs=[], **ids)
        send("response.output_text.done", text=r.text, logprobs=[], **ids)
        send("response.content_part.done", part={**part, "text": r.text}, **ids)
        status = "completed" if r.finish in ("stop", "tool_calls") else "incomplete"
        done = {**item, "status": status, "content": [{**part, "text": r.text}]}
        send("response.output_item.done", output_index=index, item=done)
        return done

    def _call_item(self, send: Callable[..., None], index: int, call_id: str, name: str,
                   arguments: str) -> dict[str, Any]:
        item = {"id": f"fc_{self._ids}_{index}", "type": "function_call", "call_id": call_id,
                "name": name, "arguments": "", "status": "in_progress"}
        send("response.output_item.added", output_index=index, item=item)
        for piece in split(arguments, 3) if arguments else []:
            send("response.function_call_arguments.delta", item_id=item["id"],
                 output_index=index, delta=piece)
        send("response.function_call_arguments.done", item_id=item["id"], output_index=index,
             arguments=arguments, name=name)
        done = {**item, "arguments": arguments, "status": "completed"}
        send("response.output_item.done", output_index=index, item=done)
        return done


ENCRYPTED = "reasoning.encrypted_content"


def _replays_output_text(body: dict[str, Any]) -> bool:
    """An input item holds an output_text part (an earlier answer's message item replayed)."""
    items = body.get("input") if isinstance(body.get("input"), list) else []
    return any(isinstance(item, dict) and isinstance(item.get("content"), list)
               and any(isinstance(p, dict) and p.get("type") == "output_text"
                       for p in item["content"])
               for item in items)


def _last_user_text(items: list[Any]) -> str:
    """The text of the last user message among Responses input items."""
    for item in reversed(items):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "\n\n".join(p.get("text", "") for p in content or []
                                if isinstance(p, dict) and p.get("type") == "input_text")
    return ""

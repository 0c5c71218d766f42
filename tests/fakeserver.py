"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions streaming protocol.

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
from dataclasses import dataclass, field
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


@dataclass
class Failure:
    status: int
    body: Any = field(default_factory=lambda: {"error": {"message": "boom", "type": "x"}})
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RawSSE:
    """Send these bytes as a 200 text/event-stream body, as they are."""

    body: bytes


@dataclass
class Reset:
    """Reset the connection (TCP RST) without answering: a server that died under the request."""


@dataclass
class PoisonedKeepAlive:
    """An empty 200 event-stream body, the connection kept open as if reusable; the next request
    that arrives on it gets a reset instead of an answer (it is counted in ``resets``)."""


Script = Reply | Failure | RawSSE | Reset | PoisonedKeepAlive

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
        # A tokenizer of ``chars_per_token`` (4 tokens of overhead a message), and a context
        # window: a request whose prompt is larger is refused with a context error of the given
        # server's shape (CONTEXT_ERRORS), before any scripted reply is used.
        self.chars_per_token = 4
        self.context_limit: int | None = None
        self.context_style = "openai"
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

            def do_POST(self) -> None:
                outer.times.append(time.perf_counter())
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if getattr(self, "poisoned", False):
                    outer._reset(self)
                    return
                outer.requests.append(body)
                outer.headers.append(dict(self.headers))
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

    # -- answering ------------------------------------------------------------------------------

    def _json(self, h: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if self.reject_stream_options and "stream_options" in body:
            self._json(h, 400, {"error": {"message": "Unknown parameter: 'stream_options'"}})
            return
        prompt = self.tokens(body["messages"])
        if self.context_limit is not None and prompt > self.context_limit:
            refusal = CONTEXT_ERRORS[self.context_style](self.context_limit, prompt)
            self._json(h, 400, refusal)
            return
        script = self.scripts.popleft() if self.scripts else None
        if script is None:
            last = next((m["content"] for m in reversed(body["messages"])
                         if m["role"] == "user"), "")
            script = Reply(f"echo: {last}")
        if isinstance(script, Reset):
            self._reset(h)
            return
        if isinstance(script, PoisonedKeepAlive):
            h.send_response(200)
            h.send_header("content-type", "text/event-stream")
            h.send_header("content-length", "0")
            h.end_headers()
            h.poisoned = True  # type: ignore[attr-defined]
            return
        if isinstance(script, Failure):
            h.send_response(script.status)
            data = script.body if isinstance(script.body, bytes) else (
                script.body.encode() if isinstance(script.body, str)
                else json.dumps(script.body).encode())
            for k, v in script.headers.items():
                h.send_header(k, v)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("connection", "close")
        h.end_headers()
        try:
            if isinstance(script, RawSSE):
                h.wfile.write(script.body)
            else:
                self._stream(h, script, bool(body.get("stream_options")), body["messages"])
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

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
        if r.usage and want_usage:
            prompt, completion = r.usage if isinstance(r.usage, tuple) else (
                self.tokens(messages), len(r.text) // self.chars_per_token)
            u = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion}
            w.write(chunk(usage=u, choices=False).encode())
        if r.done:
            w.write(b"data: [DONE]\n\n")

"""OpenAI's Responses API (``POST /v1/responses``): the request built from the conversation as
chat completions has it, and the streamed events read into the client's events.

The local store stays the truth: by default every request says ``store: false`` and carries the
whole conversation, the system prompt as ``instructions``, an answer's stored output items
replayed verbatim where they carry what the server needs (reasoning with its encrypted content,
function calls, the message's ``phase``); a plain answer goes back as a plain assistant message,
which bridges to chat completions (LiteLLM) can pass on. Reasoning goes back only to the
endpoint that made it (``origin``, kept in the answer's Replay as ``endpoint``): another one,
or another organisation behind the same one, refuses it. Each answer's Replay comes beside the
messages (``replays``), never inside them. With server state, a request chains from the last
answer the server kept (``previous_response_id``) and sends only what follows it, if the
conversation before that answer is still exactly the one the server saw (``context``: a hash of
what that answer's request sent); else it replays.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from repl.completions import count
from repl.errors import StreamError
from repl.events import Calling, Delta, Done
from repl.redaction import where
from repl.replay import Replay, Replays, at
from repl.thread import TEXT_PARTS, Usage
from repl.toolcalls import ToolCall, parse_all

ENCRYPTED = "reasoning.encrypted_content"
REASONING_MODELS = re.compile(r"(o\d|gpt-5|codex)", re.I)  # sent reasoning.summary unasked
FINISHES = {"max_output_tokens": "length", "content_filter": "content_filter"}
ROLES = ("user", "assistant", "system", "developer")


RESEALED = ("the server cannot read the earlier answers' encrypted reasoning (made for another "
            "organisation?): sent without it, from now on")


def origin(endpoint: str, base_url: str | None, refusals: int) -> str:
    """An endpoint as an answer's Replay records it (``endpoint``): its name and URL (never its
    credentials: no user, password or query), and ``#N`` once it has refused the reasoning it
    made N times (what it made before is not sent to it again: it may be another
    organisation's key now)."""
    return f"{endpoint}@{where(base_url)}" + (f"#{refusals}" if refusals else "")


def context(messages: Sequence[Mapping[str, Any]]) -> str:
    """What a request sent, as a short hash: a later request may chain from its answer only if
    the messages before that answer hash the same."""
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True,
                                     default=str).encode()).hexdigest()


def anchor(messages: Sequence[Mapping[str, Any]], replays: Replays,
           origin: str) -> tuple[int, str] | None:
    """(index, response id) of the last answer the server (``origin``) stored for this very
    conversation."""
    for i in range(len(messages) - 1, -1, -1):
        replay = at(replays, i)
        if (messages[i].get("role") == "assistant" and replay is not None and replay.stored
                and replay.endpoint == origin and replay.response_id is not None):
            return (i, replay.response_id) if replay.context == context(messages[:i]) else None
    return None


def body(messages: Sequence[Mapping[str, Any]], model: str, settings: Mapping[str, Any],
         tools: Sequence[Mapping[str, Any]], *, store: bool, include: bool,
         chain: bool, origin: str = "", replays: Replays = ()) -> dict[str, Any]:
    """The request for ``messages`` (chat completions shape), each answer's Replay beside it
    in ``replays``, to the endpoint ``origin``; ``chain``: from the last answer it stored,
    when it is still valid."""
    first = messages[0] if messages else {}
    instructions = _text(first.get("content")) if first.get("role") == "system" else None
    start = 1 if instructions is not None else 0
    previous = anchor(messages, replays, origin) if chain else None
    if previous:
        start = max(start, previous[0] + 1)
    request: dict[str, Any] = {"model": model,
                               "input": items(messages[start:], replays[start:], origin),
                               "stream": True, "store": store}
    if instructions is not None:
        request["instructions"] = instructions
    if previous:
        request["previous_response_id"] = previous[1]
    if include:
        request["include"] = [ENCRYPTED]
    effort = settings.get("effort")
    if effort or REASONING_MODELS.match(model.rsplit("/", 1)[-1]):
        request["reasoning"] = {**({"effort": effort} if effort else {}), "summary": "auto"}
    for name, field in (("temperature", "temperature"), ("top_p", "top_p"),
                        ("max_tokens", "max_output_tokens")):
        if settings.get(name) is not None:
            request[field] = settings[name]
    if tools:
        request["tools"] = [function_tool(t) for t in tools]
    return request


def function_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completions function tool as the Responses API has it (flat)."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        return dict(tool)
    return {"type": "function", **dict(function)}


def items(messages: Sequence[Mapping[str, Any]], replays: Replays = (),
          origin: str = "") -> list[dict[str, Any]]:
    """Input items for chat completions messages: an answer's stored output items (its
    Replay's, in ``replays``) verbatim where it needs them (``replayed`` to ``origin``), else
    its text and function calls; a tool message as the call's output."""
    found: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        output = replayed(at(replays, i), origin) if role == "assistant" else []
        if output:
            found.extend(output)
            continue
        if role == "tool":
            found.append({"type": "function_call_output", "call_id": m.get("tool_call_id", ""),
                          "output": _text(m.get("content"))})
            continue
        content = _content(str(role), m.get("content"))
        if content:
            found.append({"role": role if role in ROLES else "user", "content": content})
        for call in parse_all(m.get("tool_calls")):
            found.append({"type": "function_call", "call_id": call.id, "name": call.name,
                          "arguments": call.arguments})
    return found


def replayed(replay: Replay | None, origin: str) -> list[dict[str, Any]]:
    """An answer's output items to send back to ``origin`` as they were, or none (send its
    text): only an answer with an item that carries what the server needs, its encrypted
    reasoning (to the endpoint that made it: no other can read it), a function call or a
    message's ``phase``. An output_text item otherwise gains nothing, and a bridge to chat
    completions turns it into list content, which llama.cpp refuses."""
    if replay is None:
        return []
    own = bool(origin) and replay.endpoint == origin
    kept = [dict(item) for item in replay.output if own or item.get("type") != "reasoning"]
    return kept if any(_needed(item) for item in kept) else []


def _needed(item: Mapping[str, Any]) -> bool:
    if item.get("type") == "reasoning":
        return bool(item.get("encrypted_content"))
    return item.get("type") == "function_call" or bool(item.get("phase"))


def _text(content: object) -> str:
    if isinstance(content, list):
        return "\n\n".join(p["text"] for p in content if isinstance(p, Mapping)
                           and p.get("type") in TEXT_PARTS and isinstance(p.get("text"), str))
    return content if isinstance(content, str) else ""


def _content(role: str, content: object) -> str | list[dict[str, Any]]:
    if not isinstance(content, list) or role == "assistant":
        return _text(content)
    return [_part(p) for p in content if isinstance(p, Mapping)]


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completions content part as an input part (text, image, file)."""
    kind, inner = part.get("type"), part.get(str(part.get("type")))
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url" and isinstance(inner, Mapping):
        return {"type": "input_image", "image_url": inner.get("url"),
                "detail": inner.get("detail") or "auto"}
    if kind == "file" and isinstance(inner, Mapping):
        return {"type": "input_file", **{k: v for k, v in inner.items()
                                         if k in ("file_data", "file_id", "filename")}}
    return dict(part)  # already an input part, or one the server may know


class Reader:
    """The events of one streamed response, read one at a time (``feed``), then ``done``."""

    def __init__(self, *, stored: bool, sent: str, origin: str) -> None:
        self.received = 0
        self._replay = Replay(stored=stored, context=sent, endpoint=origin)
        self._output: dict[int, dict[str, Any]] = {}
        self._calling: dict[int, dict[str, Any]] = {}  # function calls while they stream
        self._finish: str | None = None
        self._usage = Usage()
        self._model: str | None = None

    def feed(self, name: str, event: Mapping[str, Any]) -> Delta | Calling | None:
        """The text or reasoning ``event`` carries, or the function calls so far; raises
        StreamError for a failed response or an error event."""
        self.received += 1
        kind = event.get("type") or name
        response = event.get("response")
        if isinstance(response, Mapping):
            self._response(response)
        if kind == "error" or (kind != "response.failed" and event.get("error")):
            raise StreamError(f"the server reported an error mid-answer: {_message(event)}")
        if kind == "response.failed":
            raise StreamError(f"the response failed: {_message(response or {})}")
        delta = event.get("delta") if isinstance(event.get("delta"), str) else ""
        if kind in ("response.output_text.delta", "response.refusal.delta") and delta:
            return Delta(text=delta)
        if kind == "response.reasoning_summary_text.delta" and delta:
            return Delta(reasoning=delta)
        if kind == "response.reasoning_summary_part.added" and event.get("summary_index"):
            return Delta(reasoning="\n\n")  # summary parts are paragraphs
        if kind == "response.output_item.added" and isinstance(event.get("item"), Mapping) \
                and event["item"].get("type") == "function_call":
            self._calling[_index(event, self._calling)] = dict(event["item"])
        elif kind == "response.function_call_arguments.delta" and delta:
            call = self._calling.get(_index(event, self._calling))
            if call is not None:
                call["arguments"] = (call.get("arguments") or "") + delta
                return Calling(self.calls(self._calling.values()))
        if kind == "response.output_item.done" and isinstance(event.get("item"), Mapping):
            index = event.get("output_index")
            self._output[index if isinstance(index, int) else len(self._output)] = \
                dict(event["item"])
        elif kind == "response.completed":
            self._finish = "stop"
        elif kind == "response.incomplete":
            details = (response or {}).get("incomplete_details") or {}
            reason = details.get("reason") if isinstance(details, Mapping) else None
            self._finish = FINISHES.get(str(reason), str(reason or "incomplete"))
        return None

    def _response(self, response: Mapping[str, Any]) -> None:
        if isinstance(response.get("id"), str):
            self._replay = replace(self._replay, response_id=response["id"])
        self._model = response.get("model") or self._model
        output = response.get("output")
        if isinstance(output, list) and output:  # the final list wins over the items seen
            self._output = {i: dict(item) for i, item in enumerate(output)
                            if isinstance(item, Mapping)}
        raw = response.get("usage")
        if isinstance(raw, dict):
            self._usage = Usage(count(raw, "input_tokens"), count(raw, "output_tokens"),
                                count(raw, "input_tokens_details", "cached_tokens"),
                                count(raw, "output_tokens_details", "reasoning_tokens"))

    @staticmethod
    def calls(items: Iterable[Mapping[str, Any]]) -> tuple[ToolCall, ...]:
        """The function_call items as tool calls."""
        return tuple(ToolCall(str(item.get("call_id") or item.get("id") or f"call_{n}"),
                              str(item.get("name") or ""), str(item.get("arguments") or ""))
                     for n, item in enumerate(items) if item.get("type") == "function_call")

    def done(self) -> Done:
        output = [self._output[i] for i in sorted(self._output)]
        calls = self.calls(output)
        finish = "tool_calls" if calls and self._finish == "stop" else self._finish
        replay = replace(self._replay, output=tuple(output)) if output and finish \
            else self._replay
        return Done(finish, self._usage, self._model, calls, replay)


def _index(event: Mapping[str, Any], seen: Mapping[int, Any]) -> int:
    index = event.get("output_index")
    return index if isinstance(index, int) else len(seen)


def _message(obj: Mapping[str, Any]) -> str:
    error = obj.get("error")
    inner = error if isinstance(error, Mapping) else obj
    message = inner.get("message") or (error if isinstance(error, str) else "")
    code = inner.get("code")
    return f"{message or 'no details'}" + (f" ({code})" if code else "")

"""ChatGPT's ``conversations.json`` -> one thread per conversation, following its current branch
(the answers that were on screen). Code and tool use become the API's tool calls and tool
results; an image, audio or file the export does not hold becomes a note naming it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

from repl.importers.common import ImportedThread, error
from repl.thread import INTERRUPTED, TRUNCATED, Message, new_uid, parts_text
from repl.toolcalls import ToolCall, api_fields

_ROLES = ("user", "assistant")
_FINISH = {"interrupted": INTERRUPTED, "max_tokens": TRUNCATED}
_PARTS = {"image_asset_pointer": "image", "audio_asset_pointer": "audio",
          "real_time_user_audio_video_asset_pointer": "audio", "file_asset_pointer": "file"}
_CONTENT_KINDS = {"thoughts": "reasoning", "reasoning_recap": ""}  # "Thought for 5 s": nothing


def from_chatgpt(conversation: object, number: int, filename: str) -> ImportedThread:
    """One conversation, following its current branch (the answers that were on screen)."""
    if not isinstance(conversation, dict) or not isinstance(conversation.get("mapping"), dict):
        raise error(filename, f"has a conversation {number} without a mapping of messages")
    title = conversation.get("title")
    label = f"conversation {number}" + (f" ({json.dumps(title, ensure_ascii=False)})"
                                        if isinstance(title, str) else "")
    system: str | None = None
    messages: list[Message] = []
    left_out: Counter[str] = Counter()
    for node in _current_branch(conversation, label, filename):
        message = _chatgpt_message(node.get("message"), left_out)
        if message is not None and message.role == "tool":
            message = _answering(message, messages, left_out)
        if message is None:
            continue
        if message.role == "system":
            if not messages and system is None:
                system = message.content
            else:
                left_out["system"] += 1
        else:
            messages.append(message)
    models = [m.model for m in messages if m.role == "assistant" and m.model]
    default = conversation.get("default_model_slug")
    model = models[-1] if models else default if isinstance(default, str) else None
    return ImportedThread(name=(title.strip() or None) if isinstance(title, str) else None,
                          system=system, model=model, messages=messages,
                          created_at=_number(conversation.get("create_time")),
                          left_out=left_out)


def _answering(result: Message, messages: list[Message],
               left_out: Counter[str]) -> Message | None:
    """A tool's output, as the API's answer to the call just before it; None (counted) when
    no call of this thread waits for it."""
    calls = messages[-1].tool_calls if messages else ()
    if not calls:
        left_out["tool_result"] += 1
        return None
    return replace(result, fields={"tool_call_id": calls[0].id})


def _current_branch(conversation: dict[str, Any], label: str,
                    filename: str) -> list[dict[str, Any]]:
    """The nodes from the root to ``current_node`` (or, without one, to the newest leaf)."""
    mapping: dict[str, Any] = conversation["mapping"]
    nodes = {key: node for key, node in mapping.items() if isinstance(node, dict)}
    current = _key(conversation.get("current_node"), nodes) or _newest_leaf(nodes)
    branch: list[dict[str, Any]] = []
    while current is not None:
        if len(branch) > len(nodes):
            raise error(filename, f"has a {label} whose messages form a loop")
        branch.append(nodes[current])
        current = _key(nodes[current].get("parent"), nodes)
    return branch[::-1]


def _key(value: object, nodes: dict[str, Any]) -> str | None:
    return value if isinstance(value, str) and value in nodes else None


def _newest_leaf(nodes: dict[str, dict[str, Any]]) -> str | None:
    """Down from the root, always into the last child: the latest answer at each fork."""
    current = next((k for k, node in nodes.items() if _key(node.get("parent"), nodes) is None),
                   None)
    for _ in nodes:  # at most one step per node, even if the children form a loop
        children = nodes[current].get("children") if current is not None else None
        keys = [k for k in children if _key(k, nodes)] if isinstance(children, list) else []
        if not keys:
            break
        current = keys[-1]
    return current


def _chatgpt_message(raw: object, left_out: Counter[str]) -> Message | None:
    """A message worth keeping: user, assistant or system text that is shown, a code or tool
    call (as the API's tool call), a tool's output; else None, having counted in ``left_out``
    what was shown but cannot be kept (reasoning, browsing displays)."""
    if not isinstance(raw, dict):
        return None
    role = _dict(raw, "author").get("role")
    content, meta = _dict(raw, "content"), _dict(raw, "metadata")
    if meta.get("is_visually_hidden_from_conversation"):
        return None  # the hidden system node, custom instructions, memory
    kind = _left_out_kind(raw, role, content.get("content_type"))
    if kind not in (None, "tool_call", "tool_result"):
        if kind:
            left_out[kind] += 1
        return None
    parts = content.get("parts")
    parts = parts if isinstance(parts, list) else []
    if not parts and isinstance(content.get("text"), str):
        parts = [content["text"]]
    text = "\n\n".join(p for p in parts if isinstance(p, str) and p)
    created = _number(raw.get("create_time"))
    if kind == "tool_call":
        return _call(raw, content, text, created)
    if kind == "tool_result":
        return Message("tool", text, created_at=created)
    assets = any(not isinstance(p, str) for p in parts)
    notes = tuple(_part(p, left_out) for p in parts) if assets else None
    text = parts_text(notes) if notes else text
    if not text.strip():
        return None
    model = meta.get("model_slug") if role == "assistant" else None
    return Message(str(role), text, created_at=created,
                   model=model if isinstance(model, str) else None,
                   status=_FINISH.get(str(_dict(meta, "finish_details").get("type"))),
                   parts=notes)


def _part(part: object, left_out: Counter[str]) -> dict[str, Any]:
    """A text part; an image, audio or file the export does not include becomes a note that
    names it."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    kind = _PARTS.get(str(_part_type(part)), "part")
    info = part if isinstance(part, dict) else {}
    name = str(info.get("asset_pointer") or info.get("name") or "unnamed").rpartition("//")[2]
    size = f", {info['width']}x{info['height']}" if "width" in info and "height" in info else ""
    if kind == "part":
        left_out["part"] += 1
    return {"type": "text", "text": f"[{kind} not in the export: {name}{size}]"}


def _call(raw: dict[str, Any], content: dict[str, Any], text: str, created: float) -> Message:
    """ChatGPT's code or tool use, as the API's assistant message with one tool call."""
    name = raw.get("recipient") if raw.get("recipient") not in (None, "all") else "python"
    arguments = json.dumps({"code": text}) if content.get("content_type") == "code" else text
    call = ToolCall(f"call_{raw.get('id') or new_uid()}", str(name), arguments)
    return Message("assistant", "", created_at=created, fields=api_fields([call]))


def _left_out_kind(raw: dict[str, Any], role: object, content_type: object) -> str | None:
    """Which LEFT_OUT kind a shown message is if it is not plain text ('' to skip it without
    a word; "tool_call" and "tool_result" are kept as the API's); None for text."""
    if role == "tool":
        return "tool_result"
    if role not in (*_ROLES, "system"):
        return "role"
    if role == "assistant" and (content_type == "code" or raw.get("recipient") not in
                                (None, "all")):
        return "tool_call"
    if content_type in ("text", "multimodal_text"):
        return None
    return _CONTENT_KINDS.get(str(content_type), "other")  # browsing displays, quotes...


def _part_type(part: object) -> object:
    return part.get("content_type") if isinstance(part, dict) else None


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


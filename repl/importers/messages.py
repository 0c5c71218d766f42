"""The OpenAI messages array (bare, or in a ``{"messages": [...]}`` object) -> one thread.

What a thread cannot hold yet (tool calls and results, images, audio, files) is counted, never
dropped without a word. A chatrepl summary is a system message marked with a ``chatrepl`` key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from repl.importers.common import ImportedThread, error
from repl.thread import SUMMARY, Message

_ROLES = ("user", "assistant")
_SYSTEM_ROLES = ("system", "developer")  # "developer" is the newer API's name for it
_TOOL_ROLES = ("tool", "function")
_TEXT_PARTS = ("text", "input_text", "output_text")
_PART_KINDS = {"image_url": "image", "input_image": "image", "image": "image",
               "input_audio": "audio", "audio": "audio", "file": "file", "input_file": "file",
               "refusal": "refusal"}
SUMMARY_PREFIX = Message(SUMMARY, "").for_api()["content"]  # what the API sees before a summary


def from_wrapper(data: dict[str, Any], filename: str) -> ImportedThread:
    """``{"messages": [...], "model": ..., "system": ..., "title": ...}``."""
    if not data["messages"]:
        raise error(filename, "has an empty list of messages: there is nothing to import")
    system, model, title = (_string(data.get(key)) for key in ("system", "model", "title"))
    thread = from_messages(data["messages"], filename)
    head = "\n\n".join(s for s in (system, thread.system) if s) or None
    return ImportedThread(name=title, system=head, model=model, messages=thread.messages,
                          left_out=thread.left_out)


def _string(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def from_messages(data: list[Any], filename: str) -> ImportedThread:
    """The messages array: leading system messages are the system prompt."""
    system: list[str] = []
    messages: list[Message] = []
    left_out: Counter[str] = Counter()
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise error(filename, f"has an item {number} that is not a message with a role")
        message = _message(item, number, filename, left_out)
        if message is None:
            continue
        if message.role != "system":
            messages.append(message)
        elif messages:
            left_out["system"] += 1
        else:
            system.append(message.content)
    return ImportedThread(name=None, system="\n\n".join(system) or None, model=None,
                          messages=messages, left_out=left_out)


def _message(item: dict[str, Any], number: int, filename: str,
             left_out: Counter[str]) -> Message | None:
    """The message ``item`` stands for (role "system" for a system prompt), or None, having
    counted in ``left_out`` what it held that a thread cannot."""
    role = item["role"]
    calls = item.get("tool_calls")
    left_out["tool_call"] += (len(calls) if isinstance(calls, list) else 0) + \
        isinstance(item.get("function_call"), dict)
    left_out["refusal"] += isinstance(item.get("refusal"), str) and bool(item["refusal"])
    left_out["audio"] += isinstance(item.get("audio"), dict)  # a spoken answer
    if role in _TOOL_ROLES:
        left_out["tool_result"] += 1
        return None
    if role not in (*_ROLES, *_SYSTEM_ROLES):
        left_out["role"] += 1
        return None
    text = _text(item.get("content"), left_out)
    if text is None:
        raise error(filename, f"has a message {number} whose content is neither text nor a "
                              "list of parts")
    covers = _summary_covers(item)
    if covers is not None:
        return Message(SUMMARY, text.removeprefix(SUMMARY_PREFIX), covers=covers)
    if not text:
        empty = role in _ROLES and not calls and "function_call" not in item and \
            not item.get("refusal") and "audio" not in item and \
            not isinstance(item.get("content"), list)
        left_out["empty"] += empty
        return None
    return Message("system" if role in _SYSTEM_ROLES else role, text)


def _summary_covers(item: dict[str, Any]) -> int | None:
    """For chatrepl's mark ``"chatrepl": {"summary": true, "covers": N}``: N; else None."""
    mark = item.get("chatrepl")
    if not isinstance(mark, dict) or mark.get("summary") is not True:
        return None
    covers = mark.get("covers")
    return covers if isinstance(covers, int) and not isinstance(covers, bool) and covers > 0 \
        else 0


def _text(content: object, left_out: Counter[str]) -> str | None:
    """The text of a message's content (a string, null, or a list of parts); None if neither.
    Text parts are joined; the others are counted in ``left_out``."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
            texts.append(part["text"] if isinstance(part.get("text"), str) else "")
        else:
            kind = part.get("type") if isinstance(part, dict) else None
            left_out[_PART_KINDS.get(kind, "part") if isinstance(kind, str) else "part"] += 1
    return "\n\n".join(t for t in texts if t)

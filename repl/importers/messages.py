"""The OpenAI messages array (bare, or in a ``{"messages": [...]}`` object) -> one thread.

Every message an API takes is kept whole; one of a role no API has, or without any content
(and no tool call), is left out and counted (a file left with nothing is refused by
repl/transfer.py, naming them). A chatrepl
summary is a system message marked with a ``chatrepl`` key; a part chatrepl made from a file
has one beside it (repl/parts.py): its text is an attachment, not what was typed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from repl.importers.common import ImportedThread, error
from repl.parts import typed
from repl.thread import SUMMARY, Message

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
    """The messages array, every message an API takes kept whole (parts, tool calls, tool
    results, names, unknown keys): exporting the thread gives the array back, though a request
    sends only the keys an API takes (Message.sent). A first system message that is plain text
    is the thread's system prompt."""
    messages: list[Message] = []
    left_out: Counter[str] = Counter()
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise error(filename, f"has an item {number} that is not a message with a role")
        kind = _unsendable(item)
        if kind:
            left_out[kind] += 1
        else:
            messages.append(_message(item, number, filename))
    system = None
    if messages and messages[0].role == "system" and messages[0].parts is None \
            and not messages[0].fields and messages[0].content:
        system, messages = messages[0].content, messages[1:]
    return ImportedThread(name=None, system=system, model=None, messages=messages,
                          left_out=left_out)


ROLES = ("system", "developer", "user", "assistant", "tool", "function")  # what APIs take


def _unsendable(item: dict[str, Any]) -> str | None:
    """The LEFT_OUT kind of a message no API takes: a role none has ("role"), or no content
    and no tool call ("empty"); None for one that is sent. A summary of chatrepl's is sent."""
    if item["role"] not in ROLES:
        return "role"
    content = item.get("content")
    calls = any(item.get(k) for k in ("tool_calls", "function_call", "refusal", "audio"))
    if (content is None or content == []) and not calls:
        return "empty"
    return None


def _message(item: dict[str, Any], number: int, filename: str) -> Message:
    """The message ``item`` is, whole. A content that is neither text nor a list of part
    objects (null, say) is kept verbatim in ``fields``, which for_api sends in its place."""
    content = item.get("content")
    fields = {k: v for k, v in item.items() if k not in ("role", "content", "chatrepl")}
    covers = _summary_covers(item)
    if covers is not None and isinstance(content, str):
        return Message(SUMMARY, content.removeprefix(SUMMARY_PREFIX), covers=covers)
    mark = item.get("chatrepl")
    thought = mark.get("reasoning") if isinstance(mark, dict) else None
    reasoning = thought if isinstance(thought, str) and thought else None
    if isinstance(content, str):
        return Message(item["role"], content, fields=fields, reasoning=reasoning)
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        parts = tuple(content)
        return Message(item["role"], typed(parts), parts=parts, fields=fields,
                       reasoning=reasoning)
    if content is not None and not isinstance(content, list):
        raise error(filename, f"has a message {number} whose content is neither text nor a "
                              "list of parts")
    text = "\n\n".join(p for p in content or [] if isinstance(p, str))
    return Message(item["role"], text, fields={**fields, "content": content}
                   if "content" in item else fields)


def _summary_covers(item: dict[str, Any]) -> int | None:
    """For chatrepl's mark ``"chatrepl": {"summary": true, "covers": N}``: N; else None."""
    mark = item.get("chatrepl")
    if not isinstance(mark, dict) or mark.get("summary") is not True:
        return None
    covers = mark.get("covers")
    return covers if isinstance(covers, int) and not isinstance(covers, bool) and covers > 0 \
        else 0

"""Pure conversions of a thread to what users take away: markdown and the JSON messages array."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

from repl.thread import Message, ThreadInfo

FORMATS = ("md", "json")


def format_for(path: str, explicit: str | None = None) -> str:
    """The export format: ``explicit`` if given, else from the file extension, else markdown."""
    if explicit:
        return explicit
    return "json" if path.lower().endswith(".json") else "md"


def api_messages(info: ThreadInfo, messages: Sequence[Message]) -> list[dict[str, str]]:
    """The OpenAI ``messages`` array: the system prompt first, then the conversation."""
    head = [{"role": "system", "content": info.system}] if info.system else []
    return head + [m.for_api() for m in messages]


def to_json(info: ThreadInfo, messages: Sequence[Message]) -> str:
    return json.dumps(api_messages(info, messages), ensure_ascii=False, indent=2) + "\n"


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="seconds")


_TITLES = {"user": "User", "assistant": "Assistant", "system": "System"}


def to_markdown(info: ThreadInfo, messages: Sequence[Message], *, now: float) -> str:
    """Readable markdown with the thread's metadata in a front-matter block (JSON-quoted values)."""
    meta = {"thread": info.name, "model": info.model, "system": info.system,
            "created": _iso(info.created_at), "exported": _iso(now), "messages": len(messages)}
    lines = ["---"]
    lines += [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in meta.items()
              if value is not None]
    lines += ["---", "", f"# {info.name}", ""]
    if info.system:
        lines += ["## System", "", info.system, ""]
    for message in messages:
        title = _TITLES.get(message.role, message.role)
        if message.role == "assistant" and message.model:
            title += f" ({message.model})"
        lines += [f"## {title}", "", message.content, ""]
        if message.status:
            lines += [f"*({message.status})*", ""]
    return "\n".join(lines)

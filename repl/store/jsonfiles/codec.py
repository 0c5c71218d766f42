"""The JSON-files store's encoding: a thread as a JSON document, its messages as objects that
start like an OpenAI messages array, and the check that a file read is a thread."""

from __future__ import annotations

import json
from typing import Any

from repl.thread import Message, ThreadInfo, Usage, new_uid, parts_text
from repl.thread_settings import ThreadSettings


def encode(m: Message, hidden_at: float | None) -> dict[str, Any]:
    """role and content first, as in an OpenAI messages array (a list content as its parts,
    with its text kept beside them); then only what is set. The message's other API keys go
    under "fields", where no key of chatrepl's can meet them."""
    d: dict[str, Any] = {"role": m.role}
    if m.parts is not None:
        d["content"] = [dict(p) for p in m.parts]
        d["text"] = m.content
    else:
        d["content"] = m.content
    if m.fields:
        d["fields"] = dict(m.fields)
    if m.reasoning is not None:
        d["reasoning"] = m.reasoning
    d["created_at"] = m.created_at
    if m.model is not None:
        d["model"] = m.model
    if m.status is not None:
        d["status"] = m.status
    usage = {"prompt_tokens": m.usage.prompt_tokens,
             "completion_tokens": m.usage.completion_tokens,
             "cached_tokens": m.usage.cached_tokens,
             "reasoning_tokens": m.usage.reasoning_tokens}
    if any(v is not None for v in usage.values()):
        d["usage"] = {k: v for k, v in usage.items() if v is not None}
    d["id"] = m.id
    if m.hidden is not None:
        d["hidden"] = m.hidden
        d["hidden_at"] = hidden_at
    if m.covers is not None:
        d["covers"] = m.covers
    if m.parent is not None:
        d["parent"] = m.parent
    d["uid"] = m.uid
    if m.meta:
        d["meta"] = dict(m.meta)
    return d


KNOWN = {"role", "content", "text", "fields", "reasoning", "created_at", "model", "status",
         "usage", "id", "hidden", "hidden_at", "covers", "uid", "meta", "parent"}


def decode(d: dict[str, Any]) -> Message:
    usage = d.get("usage") or {}
    content = d["content"]
    parts = tuple(content) if isinstance(content, list) else None
    text = content if parts is None else d.get("text", parts_text(parts))
    return Message(d["role"], text, d.get("created_at", 0.0), d.get("model"),
                   d.get("status"), Usage(usage.get("prompt_tokens"),
                                          usage.get("completion_tokens"),
                                          usage.get("cached_tokens"),
                                          usage.get("reasoning_tokens")),
                   d["id"], d.get("hidden"), d.get("covers"), d["uid"], parts,
                   d.get("fields") or {}, d.get("reasoning"), d.get("meta") or {},
                   d["parent"] if type(d.get("parent")) is int else None)


def check(doc: Any) -> dict[str, Any]:
    """``doc``, if it is a thread this store can read (unknown keys are kept); else ValueError."""
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise ValueError("not a thread: no name")
    if not isinstance(doc.get("messages"), list):
        raise ValueError("not a thread: no messages array")
    for key in ("model", "system"):
        if not isinstance(doc.get(key), str | None):
            raise ValueError(f"{key} is not a string")
    if not isinstance(doc.get("settings", {}), dict):
        raise ValueError("settings is not an object")
    for i, m in enumerate(doc["messages"]):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str | list) and type(m.get("id")) is int
                and isinstance(m.get("usage", {}), dict) and isinstance(m.get("fields", {}), dict)
                and isinstance(m.get("meta", {}), dict)
                and isinstance(m.get("text", ""), str)
                and isinstance(m.get("reasoning", ""), str | None)):
            raise ValueError(f"message {i + 1} needs a string role, a string or list content"
                             " and an integer id")
        if not isinstance(m.get("uid"), str):
            m["uid"] = new_uid()  # written before this field existed: kept at the next write
    return doc


def info(doc: dict[str, Any], *, deleted: bool = False) -> ThreadInfo:
    count = sum(1 for m in doc["messages"] if m.get("hidden") is None)
    return ThreadInfo(doc["name"], doc.get("model"), doc.get("system"),
                      doc.get("created_at", 0.0), doc.get("updated_at", 0.0), count,
                      doc.get("deleted_at") if deleted else None,
                      ThreadSettings.of(doc.get("settings") or {}))


def dumps(doc: dict[str, Any]) -> bytes:
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (from a \ud800 escape): \u escapes keep it
        return (json.dumps(doc, indent=2) + "\n").encode("ascii")

"""Pure conversions of files people bring into threads: an OpenAI messages array, ChatGPT's
``conversations.json`` and chatrepl's own markdown export. The format is told by the content."""

from __future__ import annotations

import codecs
import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any

from repl.errors import ChatreplError
from repl.export import END_MARKER, MARKER, status_line
from repl.thread import INTERRUPTED, TRUNCATED, Message

EXPECTED = ('expected a JSON messages array ([{"role": ..., "content": ...}]), '
            "ChatGPT's conversations.json or a markdown export from chatrepl")

_ROLES = ("user", "assistant")
_SYSTEM_ROLES = ("system", "developer")  # "developer" is the newer API's name for it
_TEXT_PARTS = ("text", "input_text", "output_text")
_JSON_START = re.compile(r'[\[{]\s*(?:["\[{\]}\d-]|true|false|null|$)')  # not "[a link](...)"


class ImportFormatError(ChatreplError):
    """A file that is not in a format chatrepl can import, or is damaged."""


@dataclass(frozen=True, slots=True)
class ImportedThread:
    name: str | None  # suggested from the file's metadata or title; None if it has none
    system: str | None
    model: str | None
    messages: list[Message] = field(default_factory=list)  # roles "user" and "assistant" only
    created_at: float = 0.0


def decode(data: bytes, *, filename: str = "") -> str:
    """The text of a file: UTF-8, with or without a BOM, or UTF-16 with a BOM (PowerShell's
    ``>``). Read files as bytes and decode here: text mode would fold ``\\r\\n`` in content."""
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
        else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise _error(filename, "is not UTF-8 text (is it a binary file?)") from None


def parse(text: str, *, filename: str = "") -> list[ImportedThread]:
    """The threads in ``text``; ``filename`` is only for error messages."""
    text = text.removeprefix("\ufeff")
    stripped = text.strip()
    if not stripped:
        raise _error(filename, "is empty")
    if _JSON_START.match(stripped):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as e:
            if not _has_markers(text):
                where = f"line {e.lineno}, column {e.colno}: {e.msg}"
                raise _error(filename, f"is not valid JSON ({where})") from None
        else:
            return _from_json(data, filename)
    if _has_markers(text):
        return [_from_markdown(text, filename)]
    raise _error(filename, _what_it_is(text))


def _error(filename: str, problem: str) -> ImportFormatError:
    """One line: what is wrong with which file, and what would have been understood."""
    message = f"{filename or 'the file'} {problem}; {EXPECTED}"
    return ImportFormatError(" ".join(message.split()))


def _what_it_is(text: str) -> str:
    if "\0" in text:
        return "is not a text file"
    if text.startswith("---") and re.search(r"^thread: ", text, re.MULTILINE):
        return ("is a markdown export from an older chatrepl, without the "
                f"{MARKER}message ...--> markers that make it readable; export it again")
    return f"is neither JSON nor markdown with chatrepl's {MARKER}message ...--> markers"


# == JSON ==========================================================================================

def _from_json(data: object, filename: str) -> list[ImportedThread]:
    if isinstance(data, dict) and "mapping" in data:
        return [_from_chatgpt(data, 1, filename)]
    if isinstance(data, list) and data:
        first = data[0]
        if isinstance(first, dict) and "mapping" in first:
            return [_from_chatgpt(c, i, filename) for i, c in enumerate(data, 1)]
        if isinstance(first, dict) and "role" in first:
            return [_from_messages(data, filename)]
    if data == []:
        raise _error(filename, "is an empty JSON list: there is nothing to import")
    raise _error(filename, f"is JSON of a shape chatrepl does not know ({_describe(data)})")


def _describe(data: object) -> str:
    if data == {}:
        return "an empty object"
    if isinstance(data, dict):
        keys = ", ".join(json.dumps(k, ensure_ascii=False) for k in list(data)[:5])
        return f"an object with keys {keys}" + (", ..." if len(data) > 5 else "")
    if isinstance(data, list):
        return f"a list whose first item is {_describe_item(data[0])}"
    return _describe_item(data)


def _describe_item(item: object) -> str:
    if isinstance(item, dict):
        return "an object without a role or mapping"
    return {str: "a string", bool: "a boolean", type(None): "null", list: "a list"}.get(
        type(item), "a number")


def _from_messages(data: list[Any], filename: str) -> ImportedThread:
    """The OpenAI ``messages`` array: leading system messages are the system prompt."""
    system: list[str] = []
    messages: list[Message] = []
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise _error(filename, f"has an item {number} that is not a message with a role")
        role = item["role"]
        if role not in _ROLES and (role not in _SYSTEM_ROLES or messages):
            continue  # tool results, function calls, a system message in the middle
        text = _api_text(item.get("content"))
        if text is None:
            raise _error(filename, f"has a message {number} whose content is neither text "
                                   "nor a list of parts")
        if text and role in _ROLES:
            messages.append(Message(role, text))
        elif text:
            system.append(text)
    return ImportedThread(name=None, system="\n\n".join(system) or None, model=None,
                          messages=messages)


def _api_text(content: object) -> str | None:
    """The text of a message's content (a string, null, or a list of parts); None if neither."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        return None
    texts = [part.get("text") if isinstance(part, dict) and part.get("type") in _TEXT_PARTS
             else part for part in content]  # images, audio and files are left out
    return "\n\n".join(t for t in texts if isinstance(t, str) and t)


# == ChatGPT's conversations.json ==================================================================

_FINISH = {"interrupted": INTERRUPTED, "max_tokens": TRUNCATED}


def _from_chatgpt(conversation: object, number: int, filename: str) -> ImportedThread:
    """One conversation, following its current branch (the answers that were on screen)."""
    if not isinstance(conversation, dict) or not isinstance(conversation.get("mapping"), dict):
        raise _error(filename, f"has a conversation {number} without a mapping of messages")
    title = conversation.get("title")
    label = f"conversation {number}" + (f" ({json.dumps(title, ensure_ascii=False)})"
                                        if isinstance(title, str) else "")
    system: str | None = None
    messages: list[Message] = []
    for node in _current_branch(conversation, label, filename):
        message = _chatgpt_message(node.get("message"))
        if message is None:
            continue
        if message.role == "system":
            if not messages and system is None:
                system = message.content
        else:
            messages.append(message)
    models = [m.model for m in messages if m.role == "assistant" and m.model]
    default = conversation.get("default_model_slug")
    model = models[-1] if models else default if isinstance(default, str) else None
    return ImportedThread(name=(title.strip() or None) if isinstance(title, str) else None,
                          system=system, model=model, messages=messages,
                          created_at=_number(conversation.get("create_time")))


def _current_branch(conversation: dict[str, Any], label: str,
                    filename: str) -> list[dict[str, Any]]:
    """The nodes from the root to ``current_node`` (or, without one, to the newest leaf)."""
    mapping: dict[str, Any] = conversation["mapping"]
    nodes = {key: node for key, node in mapping.items() if isinstance(node, dict)}
    current = _key(conversation.get("current_node"), nodes) or _newest_leaf(nodes)
    branch: list[dict[str, Any]] = []
    while current is not None:
        if len(branch) > len(nodes):
            raise _error(filename, f"has a {label} whose messages form a loop")
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


def _chatgpt_message(raw: object) -> Message | None:
    """A message worth keeping: user, assistant or system text that is shown; else None."""
    if not isinstance(raw, dict):
        return None
    role = _dict(raw, "author").get("role")
    content, meta = _dict(raw, "content"), _dict(raw, "metadata")
    if role not in (*_ROLES, "system") or meta.get("is_visually_hidden_from_conversation"):
        return None
    if content.get("content_type") not in ("text", "multimodal_text"):
        return None  # code, tool output, browsing, reasoning, custom instructions...
    parts = content.get("parts")
    text = "\n\n".join(p for p in parts if isinstance(p, str) and p) \
        if isinstance(parts, list) else ""  # the parts that are not strings are images
    if not text.strip():
        return None
    model = meta.get("model_slug") if role == "assistant" else None
    return Message(role, text, created_at=_number(raw.get("create_time")),
                   model=model if isinstance(model, str) else None,
                   status=_FINISH.get(str(_dict(meta, "finish_details").get("type"))))


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


# == chatrepl's markdown export ====================================================================

_MARKER_LINE = re.compile(r"<!-- chatrepl:([a-z_]+)((?: [a-z_]+=\"(?:[^\"\\]|\\.)*\")*) -->")
_ATTR = re.compile(r' ([a-z_]+)=("(?:[^"\\]|\\.)*")')


def _has_markers(text: str) -> bool:
    return text.startswith(MARKER) or "\n" + MARKER in text


def _from_markdown(text: str, filename: str) -> ImportedThread:
    if text.startswith("---\r\n"):
        text = text.replace("\r\n", "\n")  # the whole file went through a CRLF conversion
    meta, body_start = _front_matter(text)
    sections = _sections(text, body_start, filename)
    messages = [_md_message(attrs, content) for kind, attrs, content in sections
                if kind == "message" and attrs.get("role") in _ROLES]
    system, model, name = (meta.get(k) for k in ("system", "model", "thread"))
    return ImportedThread(name=name, system=system, model=model, messages=messages,
                          created_at=_timestamp(meta.get("created")))


def _front_matter(text: str) -> tuple[dict[str, str], int]:
    """The string values of the front-matter block, and where the body starts."""
    if not text.startswith("---\n"):
        return {}, 0
    end = text.find("\n---\n", 3)
    if end < 0:
        return {}, 0
    meta: dict[str, str] = {}
    for line in text[4:end].split("\n"):
        key, _, raw = line.partition(": ")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip()  # a hand edit left it unquoted
        if isinstance(value, str):
            meta[key.strip()] = value
    return meta, end + 5


def _sections(text: str, start: int, filename: str) -> list[tuple[str, dict[str, str], str]]:
    """Each marked section as (kind, attributes, content), up to the end marker."""
    at = text.find(MARKER, start)
    while at > 0 and text[at - 1] != "\n":
        at = text.find(MARKER, at + 1)
    if at < 0:
        raise _error(filename, f"has no {MARKER}message ...--> markers after its front matter")
    sections: list[tuple[str, dict[str, str], str]] = []
    while True:
        kind, attrs, at = _read_marker(text, at, filename)
        if kind == "end":
            return sections
        content, at = _read_content(text, _skip_heading(text, at), attrs, filename)
        sections.append((kind, attrs, content))


def _read_marker(text: str, at: int, filename: str) -> tuple[str, dict[str, str], int]:
    """The marker line at ``at``: its kind, its attributes and where the next line starts."""
    eol = text.find("\n", at)
    eol = len(text) if eol < 0 else eol
    match = _MARKER_LINE.fullmatch(text, at, eol)
    attrs = _attributes(match.group(2)) if match else None
    if match is None or attrs is None:
        line = text.count("\n", 0, at) + 1
        raise _error(filename, f"has a chatrepl marker on line {line} that cannot be read")
    return match.group(1), attrs, eol + 1


def _attributes(source: str) -> dict[str, str] | None:
    try:
        return {key: json.loads(value) for key, value in _ATTR.findall(source)}
    except json.JSONDecodeError:
        return None


def _skip_heading(text: str, at: int) -> int:
    """Past the section's heading line and the blank line after it."""
    if text.startswith("#", at):
        eol = text.find("\n", at)
        at = len(text) if eol < 0 else eol + 1
        if text.startswith("\n", at):
            at += 1
    return at


def _read_content(text: str, at: int, attrs: dict[str, str],
                  filename: str) -> tuple[str, int]:
    """The content from ``at`` and where the next marker starts. ``chars`` says how long it is;
    if what follows is not a blank line (and the status line) and a marker, the file was edited
    by hand, and the content runs to the next marker line instead."""
    status = attrs.get("status")
    trailer = "\n\n" + (f"{status_line(status)}\n\n" if status else "")
    chars = attrs.get("chars", "")
    if chars.isdigit():
        end = at + int(chars)
        if text.startswith(trailer + MARKER, end):
            return text[at:end], end + len(trailer)
    newline = text.find("\n" + MARKER, at - 1)
    if newline < 0:
        raise _error(filename, f"ends before its {END_MARKER} line (was it cut short?)")
    return text[at:newline].removesuffix(trailer[:-1]), newline + 1


def _md_message(attrs: dict[str, str], content: str) -> Message:
    return Message(attrs["role"], content, created_at=_timestamp(attrs.get("created")),
                   model=attrs.get("model"), status=attrs.get("status"))


def _timestamp(iso: str | None) -> float:
    try:
        return datetime.datetime.fromisoformat(iso).timestamp() if iso else 0.0
    except ValueError:
        return 0.0

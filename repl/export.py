"""Pure conversions of a thread to what users take away: markdown and the JSON messages array
(the HTML page is repl/export_html.py)."""

from __future__ import annotations

import datetime
import html
import json
import re
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

from repl.parts import Attachment, attachments
from repl.thread import EDITED_BY_USER, SUMMARY, Message, ThreadInfo

FORMATS = ("md", "json", "html")
_EXTENSIONS = {".json": "json", ".html": "html", ".htm": "html"}


def format_for(path: str, explicit: str | None = None) -> str:
    """The export format: ``explicit`` if given, else from the file extension, else markdown."""
    if explicit:
        return explicit
    return _EXTENSIONS.get(PurePath(path.lower()).suffix, "md")


def system_head(info: ThreadInfo) -> list[dict[str, str]]:
    """The thread's system prompt as the first API message, if it has one."""
    return [{"role": "system", "content": info.system}] if info.system else []


def api_messages(info: ThreadInfo, messages: Sequence[Message]) -> list[dict[str, str]]:
    """The OpenAI ``messages`` array: the system prompt first, then the conversation."""
    return system_head(info) + [m.for_api() for m in messages]


def covered(summary: Message, messages: Sequence[Message]) -> int:
    """How many of the other messages in ``messages``, from the first, ``summary`` stands for:
    what an export says instead of ``covers``, an id that means nothing in another store."""
    if summary.covers is None:
        return 0
    return sum(1 for m in messages
               if m.role != SUMMARY and m.id is not None and m.id <= summary.covers)


Expand = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def to_json(info: ThreadInfo, messages: Sequence[Message], *,
            expand: Expand | None = None) -> str:
    """The messages array, each message whole (``expand``, the store's, puts the attachments'
    bytes back). A /compact summary is a system message marked
    ``"chatrepl": {"summary": true, "covers": N}`` (it stands for the first N other messages),
    so that an import sends what was sent before; other readers see a system message. A part
    made from a file has its name beside it (``"chatrepl": {"file": "cat.png"}``), so that an
    import knows it for an attachment, by its name."""
    entries: list[dict[str, Any]] = [{**m} for m in system_head(info)]
    for message in messages:
        entry: dict[str, Any] = {**message.for_api()}
        if message.parts is not None:  # with the parts' marks, which for_api leaves out
            entry["content"] = [dict(p) for p in message.parts]
        if message.role == SUMMARY:
            entry["chatrepl"] = {"summary": True, "covers": covered(message, messages)}
        elif message.reasoning:  # stored with the answer, never sent: a reader's, as the mark
            entry["chatrepl"] = {"reasoning": message.reasoning}
        if message.meta.get(EDITED_BY_USER):  # the user's correction (/edit --answer)
            entry["chatrepl"] = {**entry.get("chatrepl", {}), "edited": "user"}
        entries.append(entry)
    return json.dumps(expand(entries) if expand else entries, ensure_ascii=False,
                      indent=2) + "\n"


def _iso(timestamp: float, timespec: str = "seconds") -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec=timespec)


# Markdown that reads well and parses back exactly. An HTML comment (invisible when rendered)
# before each section says what follows. Attribute values are JSON strings with < and > escaped,
# so a marker is always one line and never ends early. A message section (`created`, an ISO 8601
# time, is there too when known) is:
#
#   <!-- chatrepl:message role="assistant" model="gpt-4o" status="interrupted" chars="42" -->
#   ## Assistant (gpt-4o)
#
#   the content, verbatim: exactly `chars` code points
#
#   *(interrupted)*        (this line and a blank line only when there is a status)
#
# The system prompt gets a `chatrepl:system` section; the file ends with END_MARKER. `chars` lets
# a reader step over content that itself contains markers or headings; a reader falls back to the
# next marker line when a hand edit has made `chars` wrong. A /compact summary (role "summary")
# has `covers="N"`: it stands for the first N other messages. An answer the user corrected
# (/edit --answer) has `edited="user"`, and says so in its heading.
MARKER = "<!-- chatrepl:"
END_MARKER = "<!-- chatrepl:end -->"

_TITLES = {"user": "User", "assistant": "Assistant", "system": "System",
           "summary": "Summary", "tool": "Tool result"}


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def _marker(kind: str, attrs: dict[str, str | None]) -> str:
    """One marker line (without its newline); attributes that are None are left out."""
    pairs = [f"{key}={_quote(value)}" for key, value in attrs.items() if value is not None]
    return " ".join([MARKER + kind, *pairs]) + " -->"


def status_line(status: str) -> str:
    return f"*({_one_line(status)})*"


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) as one space, for headings."""
    return " ".join(text.split())


def _section(kind: str, attrs: dict[str, str | None], title: str, content: str,
             status: str | None = None) -> str:
    head = _marker(kind, {**attrs, "chars": str(len(content))})
    tail = f"{status_line(status)}\n\n" if status else ""
    return f"{head}\n## {title}\n\n{content}\n\n{tail}"


REASONING = ("<details><summary>Reasoning (stored, never sent)</summary>\n\n", "\n\n</details>")


def _folded(kind: str, content: str) -> str:
    """A section collapsed by default (an answer's reasoning): no heading, a <details> block;
    ``chars`` counts the block, which the importer unwraps."""
    block = REASONING[0] + content + REASONING[1]
    return f"{_marker(kind, {'chars': str(len(block))})}\n{block}\n\n"


def _message_section(message: Message, messages: Sequence[Message]) -> str:
    title = _TITLES.get(message.role, message.role)
    edited = "user" if message.meta.get(EDITED_BY_USER) else None  # /edit --answer
    said = [w for w in (message.model if message.role == "assistant" else None,
                        "edited by the user" if edited else None) if w]
    if said:
        title += f" ({', '.join(said)})"
    created = _iso(message.created_at, "auto") if message.created_at else None
    covers = str(covered(message, messages)) if message.role == SUMMARY else None
    attrs = {"role": message.role, "covers": covers, "model": message.model,
             "status": message.status, "edited": edited, "created": created}
    section = _section("message", attrs, _one_line(title), message.content, message.status)
    extra = _extra(message)
    thought = _folded("reasoning", message.reasoning) if message.reasoning else ""
    return section + (_section("extra", {}, "Details", extra) if extra else "") + thought


def _extra(message: Message) -> str:
    """What a message holds beside its text, for a reader: one line per attachment (name, kind,
    size), a text file's content in a collapsed block, and the message's other keys (tool
    calls, the tool call a result answers) as fenced JSON. The importer reads them back: a
    text file whole, an image or a PDF by its name (markdown does not hold their bytes)."""
    found = attachments(message)
    lines = [f"- {_one_line(a.line())}" for a in found]
    for a in found:
        if a.text is not None:
            lines += ["", *text_block(a)]
    if message.fields:
        blob = json.dumps(dict(message.fields), ensure_ascii=False, indent=2)
        lines += ["", f"{fence_for(blob)}json", blob, fence_for(blob)]
    return "\n".join(lines).strip("\n")


TEXT_BLOCK = "<details><summary>{}</summary>"  # a text file's content follows, fenced


def text_block(a: Attachment) -> list[str]:
    """A text file's content, exactly, in a fenced block inside a collapsed <details>."""
    text = a.text or ""
    fence = fence_for(text)
    return [TEXT_BLOCK.format(html.escape(_one_line(a.name))), "", f"{fence}text", text, fence,
            "", "</details>"]


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    return "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))


def to_markdown(info: ThreadInfo, messages: Sequence[Message], *, now: float) -> str:
    """Readable markdown with the thread's metadata in a front-matter block (JSON-quoted values)
    and a marker before each message, so that ``repl.importers`` can read it back exactly."""
    meta = {"thread": info.name, "model": info.model, "system": info.system,
            "created": _iso(info.created_at), "exported": _iso(now), "messages": len(messages)}
    parts = ["---\n"]
    parts += [f"{key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in meta.items()
              if value is not None]
    parts += ["---\n", "\n", f"# {_one_line(info.name)}\n", "\n"]
    if info.system:
        parts.append(_section("system", {}, "System", info.system))
    parts += [_message_section(message, messages) for message in messages]
    parts.append(END_MARKER + "\n")
    return "".join(parts)

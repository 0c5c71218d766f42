"""What a message's parts are to a person: which ones chatrepl made from a file, and the file's
name, kind, size and (for a text file) text; what was typed; what a search finds. Pure: no I/O.

A part chatrepl made from a file carries its name beside it, ``"chatrepl": {"file": NAME}``
(thread.MARK), so that a name belongs to the part, not to its bytes (two images with the same
bytes keep their own names), and travels with it: stored, carried by /edit, exported as JSON and
imported back. The mark is never sent (Message.for_api). Messages stored before it existed are
read as they were written: a text part after the first that is wholly ``<file name="...">``,
and an image named in the message's meta by the SHA-256 of its bytes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from repl.thread import ATTACHED, MARK, TEXT_PARTS, Message, Part, parse_ref

# a text file as a part: the model sees the name; chatrepl recognises the part to show it as
# an attachment, not as the question's text
TEXT_FILE = re.compile(r'<file name="([^"\n]*)">\n(.*)\n</file>', re.DOTALL)
MAX_FILE_NAME = 4096  # a mark's name longer than this (a crafted file) is no name


@dataclass(frozen=True, slots=True)
class Attachment:
    """What a part chatrepl made from a file, or a part that is not text, holds for a person:
    a name, a kind, a size when known, and a text file's text."""

    name: str
    kind: str  # image, file, audio, text, or the part's own type
    size: int | None = None
    media: str | None = None  # the data URL's media type (image/png), when there is one
    text: str | None = None  # a text file's content
    absent: str | None = None  # of a file an import could not bring: what it was

    def line(self) -> str:
        if self.absent is not None:
            return f"{self.name} ({self.absent}, {ABSENT})"
        size = f", {self.size:,} bytes" if self.size is not None else ""
        return f"{self.name} ({self.media or self.kind}{size})"


ABSENT = "not in the export"  # said of a file a markdown import names but does not hold


def marked(part: Part, name: str, *, absent: str | None = None) -> Part:
    """``part`` with the name of the file it was made from beside it (``absent``: what the
    file was, for the note that stands for one an import could not bring)."""
    mark = {"file": name, **({"absent": absent} if absent is not None else {})}
    return {**part, MARK: mark}


def text_file_part(name: str, text: str) -> Part:
    """A text file as the part the model sees: its name, then its text."""
    quoted = html.escape(name).replace("\n", "&#10;")
    return marked({"type": "text", "text": f'<file name="{quoted}">\n{text}\n</file>'}, name)


def thread_part(name: str, thread: str, turns: int, text: str) -> Part:
    """Thread ``thread``'s conversation (/include) as a text file ``name``'s part, its mark
    saying which thread and how many turns."""
    part = text_file_part(name, text)
    return {**part, MARK: {**part[MARK], "thread": thread, "turns": turns}}


def turns_of(part: Mapping[str, Any]) -> int | None:
    """How many turns of a thread the part holds, if it is an included thread's."""
    mark = part.get(MARK)
    turns = mark.get("turns") if isinstance(mark, Mapping) and "thread" in mark else None
    return turns if isinstance(turns, int) and not isinstance(turns, bool) else None


def turns_said(turns: int) -> str:
    return f"{turns} turn{'s' * (turns != 1)}"


def absent_of(part: Mapping[str, Any]) -> str | None:
    """What the file was, for a note standing for one an import could not bring; else None."""
    mark = part.get(MARK)
    absent = mark.get("absent") if isinstance(mark, Mapping) else None
    return absent[:200] if isinstance(absent, str) else None


def mark_of(part: object) -> str | None:
    """The file name ``part``'s mark holds, if it has one that reads."""
    mark = part.get(MARK) if isinstance(part, Mapping) else None
    name = mark.get("file") if isinstance(mark, Mapping) else None
    return name if isinstance(name, str) and 0 < len(name) <= MAX_FILE_NAME else None


def file_name(part: object, index: int, legacy: Mapping[str, str] | None = None) -> str | None:
    """The name of the file chatrepl made ``part`` (the message's ``index``-th) from, or None:
    its mark, else as messages before marks said it (see the module's docstring)."""
    if not isinstance(part, Mapping):
        return None
    name = mark_of(part)
    if name is not None:
        return name
    if part.get("type") == "text":
        found = TEXT_FILE.fullmatch(_str(part.get("text"))) if index > 0 else None
        return html.unescape(found.group(1)) if found else None
    inner = part.get("image_url") if part.get("type") == "image_url" else None
    ref = parse_ref(inner.get("url")) if isinstance(inner, Mapping) else None
    return legacy.get(ref.sha) if ref is not None and legacy else None


def file_names(parts: Sequence[object] | None,
               legacy: Mapping[str, str] | None = None) -> list[str | None]:
    """For each of ``parts``, the name of the file it was made from, else None."""
    return [file_name(part, i, legacy) for i, part in enumerate(parts or ())]


def names_of(m: Message) -> list[str | None]:
    """file_names of the message's parts."""
    return file_names(m.parts, legacy_names(m))


def legacy_names(m: Message) -> dict[str, str]:
    """An older chatrepl's record of its images' names: by the SHA-256 of their bytes, in the
    message's meta (read, never written: the names are in the parts now)."""
    names = m.meta.get("names")
    if not isinstance(names, Mapping):
        return {}
    return {k: v for k, v in names.items() if isinstance(k, str) and isinstance(v, str)}


def file_text(part: Mapping[str, Any]) -> str:
    """The text of a text file's part: inside its ``<file>`` wrapper, else all of it."""
    text = _str(part.get("text"))
    found = TEXT_FILE.fullmatch(text)
    return found.group(2) if found else text


def typed(parts: Sequence[object]) -> str:
    """What was typed, of a list content: its text parts that were not made from a file."""
    return "\n\n".join(_str(p.get("text")) for p, name in zip(parts, file_names(parts),
                                                               strict=True)
                       if isinstance(p, Mapping) and name is None
                       and p.get("type") in TEXT_PARTS and _str(p.get("text")))


def attachment(part: Part, name: str | None = None) -> Attachment | None:
    """The attachment ``part`` holds (``name``: the file's, file_name); None for text that was
    typed."""
    kind = part.get("type")
    if kind in TEXT_PARTS:
        if name is None:
            return None
        absent = absent_of(part)
        if absent is not None:
            return Attachment(name, "note", absent=absent)
        text = file_text(part)
        return Attachment(name, "text", len(text.encode()), text=text)
    key, field_, label = ATTACHED.get(str(kind), ("", "", str(kind)))
    inner = part.get(key)
    value = inner.get(field_) if isinstance(inner, Mapping) else None
    return Attachment(name or _own_name(kind, inner, value) or label, label,
                      *_size_and_media(value))


def _own_name(kind: object, inner: object, value: object) -> str | None:
    """The name a part not made by chatrepl gives itself: a file name, a link's last step."""
    if isinstance(inner, Mapping) and isinstance(inner.get("filename"), str):
        return str(inner["filename"])
    if kind == "input_audio" and isinstance(inner, Mapping):
        return f"audio.{inner.get('format') or 'bin'}"
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value.rsplit("/", 1)[-1].split("?", 1)[0] or value
    return None


def _size_and_media(value: object) -> tuple[int | None, str | None]:
    ref = parse_ref(value)
    header = ref.header if ref else value.partition(",")[0] + "," if isinstance(value, str) \
        and value.startswith("data:") else ""
    media = header[5:].split(";", 1)[0] or None if header.startswith("data:") else None
    if ref:
        return ref.size, media
    if isinstance(value, str) and header:
        return decoded_size(value[len(header):]), media
    return None, media


def decoded_size(b64: str) -> int:
    """How many bytes base64 ``b64`` holds (padded or not), without decoding it."""
    return len(b64.rstrip("=")) * 3 // 4


def attachments(m: Message) -> list[Attachment]:
    """The message's attachments, in order."""
    found = (attachment(p, name) for p, name in zip(m.parts or (), names_of(m), strict=True)
             if isinstance(p, Mapping))
    return [a for a in found if a is not None]


def attached_text(m: Message) -> str:
    """What a search finds in the message's attachments: each one's name, and a text file's
    text, one after the other."""
    return "\n".join(a.name if a.text is None else f"{a.name}\n{a.text}"
                     for a in attachments(m))


def searchable(m: Message) -> str:
    """What a search looks in: the text, then the attachments (attached_text)."""
    attached = attached_text(m)
    return f"{m.content}\n{attached}" if attached else m.content


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Shown:
    """What one attachment is shown as: ``📎 name · kind · size``."""

    name: str
    kind: str  # a MIME type, "text", or what a part from elsewhere says it is
    size: int | None  # bytes; None when unknown (a linked image)

    def line(self) -> str:
        size = f" · {human_size(self.size)}" if self.size is not None else ""
        return f"📎 {self.name} · {self.kind}{size}"


def human_size(size: int) -> str:
    """Decimal units, as the limits are: 999 B, 41 KB, 1.2 MB."""
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{round(size / 1000)} KB"
    return f"{size / 1_000_000:.1f} MB"


# -- showing parts that were stored or imported (any shape: they are untrusted) ---------------


def describe(part: object, name: str | None = None) -> Shown | None:
    """What a part is shown as (``name``: of the file it was made from, parts.file_name); None
    for a plain text part (it is the message's text)."""
    if not isinstance(part, Mapping):
        return Shown("?", "not a part", None)
    kind = part.get("type")
    if kind == "text":
        if name is None:
            return None
        absent = absent_of(part)
        if absent is not None:
            return Shown(name, f"{absent} · {ABSENT}", None)
        turns = turns_of(part)
        kind = turns_said(turns) if turns is not None else "text"
        return Shown(name, kind, len(file_text(part).encode()))
    found = _described(part, kind)
    return Shown(name, found.kind, found.size) if name is not None else found


def _described(part: Mapping[str, Any], kind: object) -> Shown:
    inner = part.get(kind) if isinstance(kind, str) else None
    inner = {"url": inner} if isinstance(inner, str) else _map(inner)  # "image_url": "https:…"
    if kind == "image_url":
        return _data_shown("image", _str(inner.get("url")), "image")
    if kind == "file":
        name = _str(inner.get("filename")) or _str(inner.get("file_id")) or "file"
        return _data_shown(name, _str(inner.get("file_data")), "file")
    if kind == "input_audio":
        audio = _str(inner.get("format")) or "?"
        return Shown("audio", f"audio/{audio}", decoded_size(_str(inner.get("data"))))
    return Shown(_str(kind) or "?", "part", None)


def _data_shown(name: str, url: str, fallback: str) -> Shown:
    """Shown for a data URL (its MIME type, its decoded size), the store's reference to its bytes,
    or a link (its address)."""
    ref = parse_ref(url)
    if ref is not None:
        return Shown(name, ref.header[5:].split(";")[0] or fallback, ref.size)
    header, comma, payload = url.partition(",")
    if url.startswith("data:") and comma:
        mime = header[5:].split(";")[0] or fallback
        size = decoded_size(payload) if header.endswith(";base64") else len(payload)
        return Shown(name, mime, size)
    if url:
        return Shown(url if len(url) <= 80 else url[:79] + "…", fallback, None)
    return Shown(name, fallback, None)



def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def shown_parts(parts: Sequence[object],
                names: Sequence[str | None] | None = None) -> list[Shown]:
    """One Shown per part that is not plain text, in order; ``names``: the file each was made
    from (parts.names_of the message; else read from the parts alone)."""
    names = file_names(parts) if names is None else names
    found = (describe(part, name) for part, name in zip(parts, names, strict=True))
    return [shown for shown in found if shown is not None]

"""Files attached to a message: what a file is (by its bytes, never its name), the API part it
becomes, and what a part is shown as (name, kind, size). Pure: no terminal, no store.

Images (PNG, JPEG, GIF, WebP) become ``image_url`` parts holding a data URL, PDFs ``file`` parts,
UTF-8 text a text part that names the file (``parts.TEXT_FILE``); anything else is refused.
Each part carries the name of its file beside it (repl/parts.py).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from repl.config import AttachLimits
from repl.errors import ChatreplError
from repl.parts import Shown, human_size, marked, text_file_part
from repl.thread import Part

PDF = "application/pdf"
TEXT = "text"
SIGNATURES = (  # the first bytes of each kind sent as it is
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", PDF),
)
KINDS = "an image (PNG, JPEG, GIF, WebP), a PDF or UTF-8 text"
SNIFF = 64 * 1024  # a larger file is judged text or not by this much of its start


class AttachError(ChatreplError):
    """A file that cannot be attached: missing, a directory, unreadable, of a kind that is not
    sent, or over its size limit."""


class NotSentError(AttachError):
    """A staged file could not be attached when the message was sent: nothing was sent."""

    def hint(self, *, repl: bool) -> str:
        return "nothing was sent; /attach lists the staged files, /detach drops them" if repl \
            else "nothing was sent"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file read for sending, and the part it becomes."""

    shown: Shown
    part: Part
    sha: str = ""  # the SHA-256 of the bytes (what the store's reference names)


def sniff(head: bytes) -> str | None:
    """The MIME type of an image or a PDF by its first bytes; None for anything else."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in SIGNATURES if head.startswith(magic)), None)


def _is_text(data: bytes, *, whole: bool) -> bool:
    """UTF-8 without NUL (``whole``: all of it; else a start, which may end mid-character)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=whole)
    except UnicodeDecodeError:
        return False
    return "\0" not in text


def _limit(kind: str, limits: AttachLimits) -> tuple[int, str]:
    if kind == PDF:
        return round(limits.pdf_mb * 1_000_000), "pdf_mb"
    if kind == TEXT:
        return round(limits.text_mb * 1_000_000), "text_mb"
    return round(limits.image_mb * 1_000_000), "image_mb"


def _open(path: Path) -> BinaryIO:
    """``path`` opened for reading: a regular file (a named pipe would block, a device never
    end), else AttachError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # not blocked by a pipe with no writer
    except FileNotFoundError:
        raise AttachError(f"{path}: no such file") from None
    except OSError as e:
        raise AttachError(f"cannot read {path}: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a directory, not a file" if stat.S_ISDIR(mode) else "not a regular file"
        raise AttachError(f"{path} is {what}")
    return os.fdopen(fd, "rb")


@contextlib.contextmanager
def _reading(path: Path, limits: AttachLimits) -> Iterator[tuple[BinaryIO, bytes, int, str]]:
    """The open file, its first bytes, its size and its kind (AttachError if not sent)."""
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(SNIFF)
        yield f, head, size, _judge(path, head, size, limits)


def _judge(path: Path, head: bytes, size: int, limits: AttachLimits) -> str:
    """The kind of the file whose start is ``head``; AttachError if it is not sent or too big."""
    kind = sniff(head) or (TEXT if _is_text(head, whole=size <= len(head)) else None)
    if kind is None:
        raise AttachError(f"{path} is not {KINDS}")
    limit, key = _limit(kind, limits)
    if size > limit:
        what = "text files" if kind == TEXT else "PDFs" if kind == PDF else "images"
        over, cap = human_size(size), human_size(limit)
        if over == cap:  # 2,001 bytes over 2,000: both "2 KB"
            over, cap = f"{size:,} B", f"{limit:,} B"
        raise AttachError(f"{path} is {over}, over the {cap} limit for {what} ([attach] {key} "
                          "in config.toml)")
    return kind


def labels(paths: Sequence[Path]) -> list[str]:
    """The name each of the staged ``paths`` is shown and sent by: its file name, or as many of
    its last folders as tell it from the others (two notes.txt: a/notes.txt, b/notes.txt)."""
    tails = [path.parts for path in paths]
    found = []
    for i, parts in enumerate(tails):
        k = 1
        while k < len(parts) and any(j != i and other[-k:] == parts[-k:]
                                     for j, other in enumerate(tails)):
            k += 1
        found.append("/".join(parts[-k:]) if k < len(parts) else str(paths[i]))
    return found


def examine(path: Path, limits: AttachLimits, name: str | None = None) -> Shown:
    """What ``path`` would be sent as (text is read whole, to check it; images and PDFs are not),
    named ``name`` (labels; else its file name). Raises AttachError saying why it cannot be
    attached."""
    with _reading(path, limits) as (f, head, size, kind):
        if kind == TEXT and size > len(head) and not _is_text(head + f.read(), whole=True):
            raise AttachError(f"{path} is not {KINDS}")
    return Shown(name or path.name, kind, size)


def check_all(paths: Sequence[Path], limits: AttachLimits) -> None:
    """NotSentError for the first of ``paths`` that cannot be attached (-a, before anything
    is made: a thread, the question)."""
    try:
        for path in paths:
            examine(path, limits)
    except AttachError as e:
        raise NotSentError(str(e)) from None


def load(path: Path, limits: AttachLimits, name: str | None = None) -> Attachment:
    """Read ``path`` as it is now and make its part, named ``name`` (labels; else its file
    name). Raises AttachError."""
    with _reading(path, limits) as (f, head, _, kind):
        limit, _ = _limit(kind, limits)
        data = head + f.read(max(0, limit + 1 - len(head)))  # one that grew is not read whole
    if len(data) > limit:
        _judge(path, head, len(data), limits)  # raises: over the limit
    if kind == TEXT and not _is_text(data, whole=True):
        raise AttachError(f"{path} is not {KINDS}")
    name = name or path.name
    return Attachment(Shown(name, kind, len(data)), make_part(name, kind, data),
                      hashlib.sha256(data).hexdigest())


def load_all(paths: Sequence[Path], limits: AttachLimits) -> list[Attachment]:
    """Every staged file, read now, each named by its label; NotSentError at the first that
    cannot be attached."""
    try:
        return [load(path, limits, name) for path, name in zip(paths, labels(paths), strict=True)]
    except AttachError as e:
        raise NotSentError(str(e)) from None


def make_part(name: str, kind: str, data: bytes) -> Part:
    """The part the file ``name`` of ``kind`` holding ``data`` is sent as, its name marked."""
    if kind == TEXT:
        return text_file_part(name, data.decode("utf-8-sig"))
    url = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    if kind == PDF:
        return marked({"type": "file", "file": {"filename": name, "file_data": url}}, name)
    return marked({"type": "image_url", "image_url": {"url": url}}, name)


def user_parts(text: str, attached: Iterable[Attachment]) -> tuple[Part, ...]:
    """The parts of a question: what was typed, then one part per attachment, in order."""
    return ({"type": "text", "text": text}, *(a.part for a in attached))

"""Whole threads in and out of the store: a file imported into new threads (never over one; one
already imported is skipped), a thread exported to a private file written atomically.

Used by /import, /export and the command line; it returns what happened and never prints.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from repl import files
from repl.errors import ExportError, ExportExistsError, ThreadError
from repl.export import FORMATS, format_for, to_json, to_markdown
from repl.importers import (
    ImportedThread,
    ImportFormatError,
    counted,
    decode,
    describe_left_out,
    parse,
    without_references,
)
from repl.store.buffered import BufferedStore
from repl.thread import MAX_NAME, SUMMARY, Message, free_name, validate_name
from repl.tree import Tree


@dataclass
class ImportReport:
    created: list[tuple[str, int]] = field(default_factory=list)  # (thread, messages)
    skipped: list[str] = field(default_factory=list)  # threads the store already held
    empty: int = 0  # conversations with nothing to import
    left_out: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """``imported 2 threads (9 messages): 'a', 'b'``."""
        total = sum(count for _, count in self.created)
        names = ", ".join(repr(n) for n, _ in self.created[:5])
        return (f"imported {counted(len(self.created), 'thread')} "
                f"({counted(total, 'message')}): {names}" + (" …" if len(self.created) > 5
                                                              else ""))

    def per_thread(self) -> list[str]:
        """``imported 'a' (1 message)``, one line a thread."""
        return [f"imported {name!r} ({counted(count, 'message')})" for name, count in self.created]

    def notes(self) -> list[str]:
        """What else happened: threads skipped, conversations empty, content left out."""
        lines = []
        if self.skipped:
            names = ", ".join(repr(n) for n in self.skipped[:5])
            lines.append(f"skipped {counted(len(self.skipped), 'thread')} already imported: "
                         f"{names}" + (" …" if len(self.skipped) > 5 else ""))
        if self.empty:
            lines.append(f"skipped {counted(self.empty, 'conversation')} with nothing to import")
        if left := describe_left_out(self.left_out):
            lines.append(f"left out: {left}")
        return lines


def import_file(store: BufferedStore, path: str, name: str | None = None) -> ImportReport:
    """Import ``path`` into new threads (``name`` for a file of one conversation)."""
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except OSError as e:
        raise ImportFormatError(f"cannot read {path}: {e.strerror}") from None
    threads = parse(decode(data, filename=file.name), filename=file.name)
    report = ImportReport()
    kept = [without_references(t) for t in threads if t.messages or t.system]
    if not kept:
        left_out = describe_left_out(sum((t.left_out for t in threads), Counter()))
        raise ImportFormatError(f"{file.name} has nothing chatrepl can import"
                                + (f" (left out: {left_out})" if left_out else ""))
    if name and len(kept) > 1:
        raise ThreadError(f"{file.name} holds {len(kept)} conversations; a name can only be "
                          "given to one (leave it out to name them from their titles)")
    report.empty = len(threads) - len(kept)
    for thread in kept:
        wanted = validate_name(name) if name else _name_from(thread, file)
        *taken, target = _names(store, wanted)  # one look-up of the names, for both uses
        same = _already_there(store, taken, thread)
        if same:
            report.skipped.append(same)
            continue
        store.create(target, model=thread.model, system=thread.system)
        _append(store, target, thread.messages)
        report.created.append((target, len(thread.messages)))
        report.left_out += thread.left_out
    return report


def _name_from(thread: ImportedThread, file: Path) -> str:
    """A valid thread name from a title or the file name."""
    raw = thread.name or file.stem
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in raw)
    text = re.sub(r"[/\\\\]+", "-", text).strip().lstrip(".-").strip()[:MAX_NAME].strip()
    try:
        return validate_name(text or "imported")
    except ThreadError:
        return "imported"


def _names(store: BufferedStore, wanted: str) -> list[str]:
    """``wanted`` and its ``-2``, ``-3``… as far as they are taken, then the first free one."""
    taken: list[str] = []

    def is_taken(name: str) -> bool:
        if store.get(name) is None:
            return False
        taken.append(name)
        return True

    free = free_name(wanted, is_taken)  # fills ``taken`` on the way
    return [*taken, free]


def _already_there(store: BufferedStore, taken: list[str],
                   thread: ImportedThread) -> str | None:
    """The thread among ``taken`` (the wanted name and its suffixes) that holds the same
    conversation: the same system prompt, the same messages (attachments compared by bytes)."""
    mine = [m.for_api() for m in thread.messages]
    for candidate in taken:
        info = store.get(candidate)
        if info is None or (info.system or None) != (thread.system or None):
            continue
        have = store.messages(candidate)
        if len(have) == len(mine) and store.expand([m.for_api() for m in have]) == mine:
            return candidate
    return None


def _append(store: BufferedStore, name: str, messages: list[Message]) -> None:
    """Store ``messages``; a summary's ``covers`` (how many other messages it stands for)
    becomes the id of the last of them, known once they are stored."""
    batch: list[Message] = []
    for message in messages:
        if message.role != SUMMARY:
            batch.append(message)
            continue
        store.append_many(name, batch)
        batch = []
        stored = [m.id for m in store.messages(name) if m.role != SUMMARY]
        count = min(message.covers or 0, len(stored))
        batch.append(replace(message, covers=stored[count - 1] if count else None))
    store.append_many(name, batch)


# == export ========================================================================================

def export_text(store: BufferedStore, name: str, fmt: str) -> tuple[str, int]:
    """Thread ``name`` as ``fmt`` (md, json or html), and how many messages that is."""
    info = store.get(name)
    if info is None:
        raise ExportError(f"no thread named {name!r}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
    messages = store.messages(name)
    if fmt == "json":
        return to_json(info, messages, expand=store.expand), len(messages)
    if fmt == "html":
        from repl.export_html import to_html  # markdown-it and pygments: only when asked for

        marks = Tree.of(store.messages(name, hidden=True)).marks(messages)
        return (to_html(info, messages, now=time.time(), expand=store.expand, marks=marks),
                len(messages))
    return to_markdown(info, messages, now=time.time()), len(messages)


def export_thread(store: BufferedStore, name: str, path: str, fmt: str | None = None, *,
                  overwrite: bool = False) -> int:
    """Write thread ``name`` to the file ``path``; returns how many messages it holds. Raises
    ExportExistsError if the file exists, unless ``overwrite``."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"{path} is a directory")
    if target.exists() and not overwrite:
        raise ExportExistsError(f"{path} already exists")
    text, count = export_text(store, name, format_for(path, fmt))
    write_private(target, text, overwrite=overwrite)
    return count


def write_private(target: Path, text: str, *, overwrite: bool = True) -> None:
    """Write atomically with owner-only permissions (repl.files); without ``overwrite``, a file
    that appeared meanwhile is kept (ExportExistsError)."""
    try:
        files.atomic_write(target, text.encode("utf-8"), exclusive=not overwrite)
    except FileExistsError:
        raise ExportExistsError(f"{target} already exists") from None
    except OSError as e:
        raise ExportError(f"cannot write {target}: {e.strerror}") from None

"""The JSON-files store: one pretty-printed JSON file per thread, to read, grep, back up and sync.

Every write replaces a whole file atomically under file locks (disk.py), so two processes on one
thread lose nothing and a crash never leaves half a file. A damaged file is moved aside and kept,
never replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import replace
from typing import Any

from repl import files
from repl.errors import NotInTrashError, StoreError, ThreadError
from repl.store import blobs, words
from repl.store.jsonfiles import codec
from repl.store.jsonfiles.disk import Disk, as_store_error
from repl.store.jsonfiles.names import BLOBS, ERASING, FORMAT, STATE, TRASH
from repl.thread import (
    ROOT,
    Hit,
    Message,
    Part,
    ThreadInfo,
    TurnCounter,
    free_name,
    last_group,
    restored_name,
)
from repl.thread_settings import ThreadSettings

BLOB_NAME = re.compile(r"[0-9a-f]{64}")  # a blob's file: the SHA-256 of its bytes
REFERENCE = re.compile(re.escape(blobs.PREFIX).encode() + rb"([0-9a-f]{64}):")  # one's use


class JSONStore(Disk):
    def _new(self, name: str, model: str | None, system: str | None, now: float,
             messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"name": name, "model": model, "system": system, "created_at": now,
                "updated_at": now, "deleted_at": None, "format": FORMAT,
                "messages": messages or []}

    # -- threads ----------------------------------------------------------------------------------

    def list_threads(self) -> list[ThreadInfo]:
        """Every live thread, most recently active first. Reads every thread file whole."""
        infos = [codec.info(doc) for _, doc in self._live()]
        infos.sort(key=lambda i: (i.updated_at, i.created_at), reverse=True)
        return infos

    def get(self, name: str) -> ThreadInfo | None:
        doc = self._read(self._path(name))
        return codec.info(doc) if doc is not None and doc["name"] == name else None

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        now = self._clock()
        with self._names_locked():
            if self._taken(name):
                raise ThreadError(f"a thread named {name!r} already exists")
            self._write(self._path(name), self._new(name, model, system, now))
        return ThreadInfo(name, model, system, now, now, 0)

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False, settings: ThreadSettings | None = None) -> None:
        with self._thread_locked(name) as (path, doc):
            if settings is not None:
                doc["settings"] = settings.stored()
            if model is not None:
                doc["model"] = model
            if system is not None or clear_system:
                doc["system"] = system
            self._write(path, doc)

    def rename(self, old: str, new: str) -> None:
        """Write the thread under its new file name, then remove the old file: a crash between
        the two leaves the thread twice, never nowhere."""
        with self._names_locked():
            src = self._path(old)
            doc = self._load(src, old)
            if old == new:
                return
            if self._taken(new):
                raise ThreadError(f"a thread named {new!r} already exists")
            doc["name"] = new
            self._write(self._path(new), doc)
            self._remove(src)
            self._drop_lock(src)  # the old name (an erased title, say) lingers in no file name
            state = self._state()
            if state.get("last_thread") == old:
                state["last_thread"] = new
                self._write_json(self.dir / STATE, state)

    def delete(self, name: str) -> None:
        """Move the thread's file to trash/ with deleted_at set (its name is free again)."""
        with self._names_locked():
            src = self._path(name)
            doc = self._load(src, name)
            doc["deleted_at"] = self._clock()
            folder = self.dir / TRASH
            self._subfolder(folder, make=True)
            stem = src.name.removesuffix(".json") + ".deleted-" + time.strftime("%Y%m%d-%H%M%S")
            stem = free_name(stem, lambda s: os.path.lexists(folder / f"{s}.json"), limit=240)
            dst = folder / f"{stem}.json"
            self._write(dst, doc)
            self._remove(src)
            self._drop_lock(src)

    def trash(self) -> list[ThreadInfo]:
        """The deleted threads, most recently deleted first."""
        return [codec.info(doc, deleted=True) for _, doc in self._trashed()]

    def trashed_threads(self) -> list[tuple[ThreadInfo, list[Message]]]:
        return [(codec.info(doc, deleted=True), [codec.decode(m) for m in doc["messages"]])
                for _, doc in self._trashed()]

    def restore(self, name: str) -> str:
        """Bring back the most recently deleted thread called ``name``; returns its name now
        (``name``, or ``name-restored[-N]`` when a live thread has taken it)."""
        with self._names_locked():
            found = next(((p, d) for p, d in self._trashed() if d["name"] == name), None)
            if found is None:
                raise NotInTrashError(name)
            path, doc = found
            target = restored_name(name, self._taken)
            doc["name"], doc["deleted_at"] = target, None
            self._write(self._path(target), doc)
            self._remove(path)
        return target

    def fork(self, source: str, target: str, *, upto: int | None = None) -> ThreadInfo:
        """A new thread ``target`` with the conversation of ``source`` (up to message ``upto``),
        its messages numbered from 1 again."""
        now = self._clock()
        with self._names_locked():
            doc = self._load(self._path(source), source)
            if self._taken(target):
                raise ThreadError(f"a thread named {target!r} already exists")
            kept = [m for m in map(codec.decode, doc["messages"])
                    if m.hidden is None and not (upto and (m.id or 0) > upto)]
            ids = {m.id: i for i, m in enumerate(kept, 1)}
            # the copy is the conversation alone: each message follows the one before
            copied = [codec.encode(replace(m, id=ids[m.id], covers=ids.get(m.covers),
                                           parent=i), None) for i, m in enumerate(kept)]
            new = self._new(target, doc.get("model"), doc.get("system"), now, copied)
            new["updated_at"] = max([now, *(m.created_at for m in kept)])
            if doc.get("settings"):
                new["settings"] = doc["settings"]
            self._write(self._path(target), new)
        return codec.info(new)

    # -- messages ---------------------------------------------------------------------------------

    def _add(self, doc: dict[str, Any], messages: list[Message],
             uids: set[str]) -> list[Message]:
        """Append to the thread's document (whose messages have the ``uids``); the messages as
        stored, with the ids given (each one more than the highest)."""
        # ids only grow, so the last message has the highest (and none is read for it)
        next_id = (doc["messages"][-1]["id"] if doc["messages"] else 0) + 1
        doc["format"] = FORMAT  # an older chatrepl leaves it alone rather than misread it
        added = []
        stored: dict[str, dict[str, Any]] = {}  # of this call
        for m in messages:
            if m.uid in uids or m.uid in stored:  # sent before, its reply lost: kept once
                added.append(codec.decode(stored.get(m.uid) or next(
                    d for d in doc["messages"] if d["uid"] == m.uid)))
                continue
            m = replace(m, id=next_id, created_at=m.created_at or self._clock())
            if m.parts:
                m = replace(m, parts=self._put_blobs(m.parts))
            doc["messages"].append(codec.encode(m, m.created_at if m.hidden else None))
            stored[m.uid] = doc["messages"][-1]
            doc["updated_at"] = max(doc.get("updated_at", 0.0), m.created_at)
            added.append(m)
            next_id += 1
        return added

    def append(self, name: str, message: Message) -> Message:
        """One line added to the thread's file, under its lock (what others appended meanwhile
        is read first, and only that): the cost does not grow with the thread."""
        message = replace(message, created_at=message.created_at or self._clock(), hidden=None)
        with self._thread_locked(name) as (path, doc):
            last = next((m["id"] for m in reversed(doc["messages"]) if m.get("hidden") is None),
                        ROOT)  # what it follows: the conversation's last message now
            before = len(doc["messages"])
            [added] = self._add(doc, [replace(message, parent=last)], self._uids(path))
            self._append(path, doc, doc["messages"][before:])
        return added

    def append_many(self, name: str, messages: list[Message]) -> list[Message]:
        """Add many messages in one write (an import, a copy: hidden ones stay hidden)."""
        with self._thread_locked(name) as (path, doc):
            before = len(doc["messages"])
            added = self._add(doc, messages, self._uids(path))
            self._append(path, doc, doc["messages"][before:])
        return added

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]:
        """The conversation in order. Reads the whole file even for the ``last`` few: JSON has
        no partial read."""
        doc = self._load(self._path(name), name)
        found = [m for m in doc["messages"] if hidden or m.get("hidden") is None]
        if last is not None:
            found = found[max(len(found) - last, 0):] if last > 0 else []
        return [codec.decode(m) for m in found]

    def hide(self, name: str, ids: list[int], reason: str) -> None:
        """Take messages out of the conversation (kept, searchable); ``reason`` says why."""
        self._mark(name, set(ids), reason)

    def unhide(self, name: str, ids: list[int]) -> None:
        self._mark(name, set(ids), None)

    def _mark(self, name: str, ids: set[int], reason: str | None) -> None:
        now = self._clock()
        with self._thread_locked(name) as (path, doc):
            found = [(i, m) for i, m in enumerate(doc["messages"]) if m["id"] in ids]
            for i, m in found:
                message = replace(codec.decode(m), hidden=reason)
                doc["messages"][i] = {**codec.encode(message, now if reason else None),
                                      **{k: v for k, v in m.items() if k not in codec.KNOWN}}
            if found:
                self._write(path, doc)

    def erase(self, name: str, ids: list[int]) -> int:
        """The thread's file written again without the messages (the old one replaced whole),
        and the blobs no other message uses deleted."""
        with self._thread_locked(name) as (path, doc):
            kept = [m for m in doc["messages"] if m["id"] not in set(ids)]
            gone = [m for m in doc["messages"] if m["id"] in set(ids)]
            if gone:
                self._mark_erasing()
                doc["messages"] = kept
                self._write(path, doc)
        if gone:
            self._drop_blobs(gone)
        return len(gone)

    def purge(self, name: str) -> int:
        with self._names_locked():
            found = [(p, doc) for p, doc in self._trashed() if doc["name"] == name]
            if not found:
                raise NotInTrashError(name)
            self._mark_erasing()
            for path, _ in found:
                self._remove(path)
        self._drop_blobs([m for _, doc in found for m in doc["messages"]])
        return len(found)

    # -- attachment bytes, once per SHA-256 -------------------------------------------------------

    def _put_blobs(self, parts: tuple[Part, ...]) -> tuple[Part, ...]:
        parts, found = blobs.take_out(parts)
        folder = self.dir / BLOBS
        if found:
            self._subfolder(folder, make=True)
        for sha, raw in found.items():
            path = folder / blobs.checked(sha)
            with as_store_error(folder, "write"):
                try:
                    files.atomic_write(path, raw, exclusive=True)
                except FileExistsError:  # the same bytes; but a link planted there is replaced
                    if not files.is_file(path):
                        files.atomic_write(path, raw)
        return parts

    def _mark_erasing(self) -> None:
        with as_store_error(self.dir / ERASING, "write"):
            files.atomic_write(self.dir / ERASING, b"")

    def _drop_blobs(self, gone: list[dict[str, Any]]) -> None:
        """After an erase or purge (of the ``gone`` messages): delete every blob that no message
        left (any thread, the trash included) refers to, a crash's leftovers too; then the
        erase is done. Under the store lock, so no write is between its blob and its thread."""
        with self._names_locked():
            folder = self.dir / BLOBS
            held = {p.name for p in folder.iterdir() if BLOB_NAME.fullmatch(p.name)} \
                if self._subfolder(folder) else set()
            for sha in held - self._referenced() if held else ():
                self._remove(folder / sha)
            self._remove(self.dir / ERASING)

    def _referenced(self) -> set[str]:
        """The blobs a message of a thread (the trash's too) refers to, and those a damaged
        file set aside does: it is kept, and so are they. StoreError when a thread file cannot
        be read (which blobs it needs is not known)."""
        docs = [*self._live(strict=True), *self._trashed(strict=True)]
        found = {m for _, doc in docs for m in REFERENCE.findall(codec.dumps(doc))}
        for folder in (self.dir, self.dir / TRASH):
            aside = folder.glob("*.damaged-*") if self._subfolder(folder) else ()
            for path in aside:
                with contextlib.suppress(files.NotAFileError):  # a link set aside names none
                    found.update(REFERENCE.findall(self._bytes(path) or b""))
        return {m.decode() for m in found}

    def _tidy(self) -> None:
        """Disk's tidying, and the end of an erase that was cut short (kill -9, a full disk);
        while others write, the next open does it."""
        super()._tidy()
        if (self.dir / ERASING).exists():
            with contextlib.suppress(StoreError):
                self._drop_blobs([])

    def expand(self, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The request's messages with their attachments' bytes put back (blobs.py)."""
        return blobs.expand(payload, self._blob)

    def _blob(self, sha: str) -> bytes | None:
        """The bytes of blob ``sha``; None (a note is sent in their place) when a link, or
        anything but a file, stands in its place or in blobs/'s: never read through."""
        path = self.dir / BLOBS / blobs.checked(sha)
        try:
            files.subdir(path.parent)
            raw = self._bytes(path)
        except files.NotAFileError:
            return None
        if raw is None:
            raise StoreError(f"the thread store {self.dir} lacks an attachment ({sha[:12]})")
        return raw

    def last_hidden(self, name: str, reason: str) -> list[Message]:
        """The messages most recently hidden for ``reason`` (or a ``reason:detail``), together
        (one /undo, say)."""
        doc = self._load(self._path(name), name)
        return last_group([(codec.decode(m), m.get("hidden_at")) for m in doc["messages"]
                           if m.get("hidden") is not None], reason)

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Messages of live threads containing every word of ``text`` (whole words, case and
        accents folded), most matches first, then newest. Reads every live thread file."""
        wanted = words.query(text)
        if not wanted:
            return []
        hits: list[tuple[int, Hit]] = []
        for _, doc in self._live():
            turns = TurnCounter()
            for m in map(codec.decode, doc["messages"]):
                found = words.hit(doc["name"], m, wanted, turns.see(m))
                if found:
                    hits.append(found)
        return words.best(hits, limit)

    def get_state(self, key: str) -> str | None:
        value = self._state().get(key)
        return value if isinstance(value, str) else None

    def set_state(self, key: str, value: str) -> None:
        with self._names_locked():
            state = self._state()
            state[key] = value
            self._write_json(self.dir / STATE, state)

    def close(self) -> None:
        """Nothing to release: no file or lock is held between calls."""

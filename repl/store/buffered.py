"""A store wrapper that never loses a message when the backend cannot write.

A disk that is full, a data dir made read-only, a database locked for too long or a lost Redis
connection make ``append`` fail. The message is then kept in memory, in order, and written before
anything else at the next chance; meanwhile reads include it, so the conversation goes on. The
caller learns of it through UnsavedError, raised after the message is safe in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from repl import files
from repl.errors import StoreError, UnsavedError
from repl.store import ThreadStore
from repl.store.recover import Recovery
from repl.thread import Hit, Message, ThreadInfo
from repl.thread_settings import ThreadSettings


class BufferedStore:
    def __init__(self, inner: ThreadStore) -> None:
        self.inner = inner
        self.pending: list[tuple[str, Message]] = []

    @property
    def recovered(self) -> Recovery | None:
        """What the backend did about a damaged store at open, if anything."""
        return getattr(self.inner, "recovered", None)

    def damage(self) -> list[str]:
        """What the backend could not read and went on without since last asked (a JSON
        store's damaged thread file, moved aside and kept), one line each, to be shown."""
        take = getattr(self.inner, "take_damage", None)
        return list(take()) if take is not None else []

    def flush(self) -> bool:
        """Write what is pending, oldest first; True when nothing is left."""
        while self.pending:
            name, message = self.pending[0]
            try:
                self.inner.append(name, message)
            except StoreError:
                return False
            self.pending.pop(0)
        return True

    def append(self, name: str, message: Message) -> Message:
        if self.flush():
            try:
                return self.inner.append(name, message)
            except UnsavedError:
                raise
            except StoreError as e:
                self._keep(name, message)
                raise UnsavedError(f"{e}; the message is kept in memory and will be saved "
                                   "when possible", unsaved=len(self.pending)) from None
        self._keep(name, message)
        raise UnsavedError(f"still cannot write to the thread store; {len(self.pending)} "
                           "messages are kept in memory", unsaved=len(self.pending))

    def _keep(self, name: str, message: Message) -> None:
        if not message.created_at:
            message = replace(message, created_at=time.time())
        self.pending.append((name, message))

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]:
        self.flush()
        kept = [m for n, m in self.pending if n == name]
        if last is not None and len(kept) >= last:
            return kept[len(kept) - last:] if last > 0 else []
        stored = self.inner.messages(name, last=None if last is None else last - len(kept),
                                     hidden=hidden)
        return stored + kept

    def rename(self, old: str, new: str) -> None:
        self.inner.rename(old, new)
        self.pending = [(new if n == old else n, m) for n, m in self.pending]

    def rescue(self) -> Path | None:
        """Write what could not be saved to a JSON file somewhere writable; where, or None."""
        if not self.pending or self.flush():
            return None
        data = [{"thread": name, **asdict(message)} for name, message in self.pending]
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if not text.isascii():  # readable, unless a lone surrogate needs a \u escape
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                text = json.dumps(data, indent=2)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for folder in (Path.home(), Path(tempfile.gettempdir())):
            path = folder / f"chatrepl-unsaved-{stamp}-{os.getpid()}.json"
            try:
                files.atomic_write(path, text.encode("utf-8"), exclusive=True)
                return path
            except OSError:
                continue
        return None

    # -- everything else goes straight through, after pending messages are written ---------------

    def list_threads(self) -> list[ThreadInfo]:
        return self.inner.list_threads()

    def get(self, name: str) -> ThreadInfo | None:
        return self.inner.get(name)

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        self.flush()
        return self.inner.create(name, model=model, system=system)

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False, settings: ThreadSettings | None = None) -> None:
        self.flush()
        self.inner.update(name, model=model, system=system, clear_system=clear_system,
                          settings=settings)

    def delete(self, name: str) -> None:
        if not self.flush() and any(n == name for n, _ in self.pending):
            raise StoreError(f"{name!r} has messages not yet saved; it can be deleted once the "
                             "store can be written again")
        self.inner.delete(name)

    def trash(self) -> list[ThreadInfo]:
        return self.inner.trash()

    def trashed_threads(self) -> list[tuple[ThreadInfo, list[Message]]]:
        return self.inner.trashed_threads()

    def restore(self, name: str) -> str:
        return self.inner.restore(name)

    def fork(self, source: str, target: str, *, upto: int | None = None) -> ThreadInfo:
        self.flush()
        return self.inner.fork(source, target, upto=upto)

    def append_many(self, name: str, messages: list[Message]) -> list[Message]:
        self.flush()
        return self.inner.append_many(name, messages)

    def hide(self, name: str, ids: list[int], reason: str) -> None:
        self.flush()
        self.inner.hide(name, ids, reason)

    def unhide(self, name: str, ids: list[int]) -> None:
        self.flush()
        self.inner.unhide(name, ids)

    def erase(self, name: str, ids: list[int]) -> int:
        self.flush()
        return self.inner.erase(name, ids)

    def purge(self, name: str) -> int:
        return self.inner.purge(name)

    def last_hidden(self, name: str, reason: str) -> list[Message]:
        return self.inner.last_hidden(name, reason)

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        return self.inner.search(text, limit=limit)

    def expand(self, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Messages still pending hold their data inline: only stored ones have references."""
        return self.inner.expand(payload)

    def get_state(self, key: str) -> str | None:
        return self.inner.get_state(key)

    def set_state(self, key: str, value: str) -> None:
        try:
            self.inner.set_state(key, value)
        except StoreError:
            pass  # only remembers the thread used last; not worth an error

    def close(self) -> None:
        self.flush()
        self.inner.close()

"""The Redis store: the same threads on every machine that points at one Redis server.

Every write is one atomic step on the server (see scripts.py), so several machines can write one
thread at once.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, cast

import redis

from repl.errors import NotInTrashError, ThreadError
from repl.store import stored_settings
from repl.store.redis import codec, scripts
from repl.store.redis.attachments import Attachments
from repl.thread import ROOT, Message, ThreadInfo, last_group, restored_name
from repl.thread_settings import ThreadSettings


class RedisStore(Attachments):
    def list_threads(self) -> list[ThreadInfo]:
        """Every live thread, most recently active first: two round trips whatever the count."""
        with self._guard():
            names = cast(dict[str, str], self._r.hgetall(self._names))
            tids = list(names.values())
            infos = [(info, int(tid)) for info, tid in zip(self._infos(tids), tids, strict=True)
                     if info and info.deleted_at is None and names.get(info.name) == tid]
        infos.sort(key=lambda p: (p[0].updated_at, p[1]), reverse=True)
        return [info for info, _ in infos]

    def get(self, name: str) -> ThreadInfo | None:
        with self._guard():
            for fresh in (False, True):
                try:
                    tid = self._tid(name, fresh=fresh)
                except ThreadError:
                    return None
                h = cast(dict[str, str], self._r.hgetall(self._key("thread", tid)))
                if h.get("name") == name and "deleted_at" not in h:
                    return codec.info(h)
        return None

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        now = self._clock()
        with self._guard():
            tid = str(self._r.incr(self._key("next_thread")))
            if not self._create(tid, name, now, model, system, []):
                raise ThreadError(f"a thread named {name!r} already exists")
        self._tids[name] = tid
        return ThreadInfo(name, model, system, now, now, 0)

    def _create(self, tid: str, name: str, now: float, model: str | None, system: str | None,
                items: list[tuple[str, str]], *, updated: float | None = None,
                settings: str | None = None, client: Any = None) -> Any:
        fields = {"name": name, "created_at": repr(now), "updated_at": repr(updated or now),
                  "count": str(len(items)), "model": model, "system": system,
                  "settings": settings}
        flat = [x for k, v in fields.items() if v is not None for x in (k, v)]
        thread, messages, _, uids = self._thread_keys(tid)
        pairs = [x for item in items for x in item]
        return self._create_script(keys=[self._names, thread, messages, uids],
                                   args=[name, tid, len(flat) // 2, *flat, *pairs], client=client)

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False, settings: ThreadSettings | None = None) -> None:
        ops: list[str] = []
        stored = settings.stored() if settings is not None else None
        if stored:
            ops += ["set", "settings", json.dumps(stored)]
        elif stored is not None:
            ops += ["del", "settings", ""]
        if model is not None:
            ops += ["set", "model", model]
        if system is not None:
            ops += ["set", "system", system]
        elif clear_system:
            ops += ["del", "system", ""]
        with self._guard():
            self._call(self._update_script, name, lambda t: [self._key("thread", t)], ops)

    def rename(self, old: str, new: str) -> None:
        with self._guard():
            done = self._call(self._rename_script, old,
                              lambda t: [self._key("thread", t), self._key("state")], [new])
        if not done:
            raise ThreadError(f"a thread named {new!r} already exists")
        self._tids.pop(old, None)

    def delete(self, name: str) -> None:
        """Move the thread to the trash: its name is freed, its keys stay where they are."""
        with self._guard():
            self._call(self._delete_script, name,
                       lambda t: [self._key("thread", t), self._key("trash")],
                       [repr(self._clock())])
        self._tids.pop(name, None)

    def trash(self) -> list[ThreadInfo]:
        with self._guard():
            return [info for _, info in self._trashed()]

    def _trashed(self) -> list[tuple[str, ThreadInfo]]:
        """The thread id and metadata of each thread in the trash, most recently deleted first."""
        tids = cast(list[str], self._r.zrevrange(self._key("trash"), 0, -1))
        return [(t, i) for t, i in zip(tids, self._infos(tids), strict=True)
                if i and i.deleted_at is not None]

    def trashed_threads(self) -> list[tuple[ThreadInfo, list[Message]]]:
        with self._guard():
            return [(info, [codec.decode(raw)[0] for raw in cast(list[str], self._r.lrange(
                self._key("messages", tid), 0, -1))]) for tid, info in self._trashed()]

    def restore(self, name: str) -> str:
        """Bring back the most recently deleted thread called ``name``; returns its name now
        (``name``, or ``name-restored[-N]`` when a live thread has taken it)."""
        with self._guard():
            for _ in range(scripts.ATTEMPTS):
                tids = cast(list[str], self._r.zrevrange(self._key("trash"), 0, -1))
                tid = next((t for t, i in zip(tids, self._infos(tids), strict=True)
                            if i and i.name == name), None)
                if tid is None:
                    raise NotInTrashError(name)
                target = restored_name(name, lambda n: bool(self._r.hexists(self._names, n)))
                done = self._restore_script(
                    keys=[self._names, self._key("thread", tid), self._key("trash")],
                    args=[target, tid])
                if done:
                    return target
            raise redis.exceptions.WatchError()

    def fork(self, source: str, target: str, *, upto: int | None = None) -> ThreadInfo:
        """A new thread ``target`` with the conversation of ``source`` (up to message ``upto``),
        copied from one consistent reading of it (WATCH) and created in one step."""
        now = self._clock()
        with self._guard(), self._r.pipeline() as pipe:
            for _ in range(scripts.ATTEMPTS):
                try:
                    return self._fork(pipe, source, target, upto, now)
                except redis.exceptions.WatchError:
                    continue
            raise redis.exceptions.WatchError()

    def _fork(self, pipe: Any, source: str, target: str, upto: int | None,
              now: float) -> ThreadInfo:
        src = self._tid(source, fresh=True)
        thread, messages, _, _ = self._thread_keys(src)
        pipe.watch(thread, messages)
        meta = cast(dict[str, str], pipe.hgetall(thread))
        if meta.get("name") != source or "deleted_at" in meta:
            pipe.unwatch()
            raise redis.exceptions.WatchError()  # renamed or deleted meanwhile: look again
        kept = [m for m, _ in map(codec.decode, pipe.lrange(messages, 0, -1))
                if m.hidden is None and (not upto or (m.id or 0) <= upto)]
        first = int(pipe.incrby(self._key("next_message"), len(kept))) - len(kept) + 1
        ids = {m.id: first + i for i, m in enumerate(kept)}
        # the copy is the conversation alone: each message follows the one before
        items = [(codec.encode(first + i, replace(m, covers=ids.get(m.covers),
                                                  parent=first + i - 1 if i else ROOT), None),
                  m.uid) for i, m in enumerate(kept)]
        tid = str(pipe.incr(self._key("next_thread")))
        updated = max([now, *(m.created_at for m in kept)])
        model, system = meta.get("model"), meta.get("system")
        pipe.multi()
        self._create(tid, target, now, model, system, items, updated=updated,
                     settings=meta.get("settings"), client=pipe)
        if not pipe.execute()[0]:
            raise ThreadError(f"a thread named {target!r} already exists")
        self._tids[target] = tid
        return ThreadInfo(target, model, system, now, updated, len(kept),
                          settings=stored_settings(meta.get("settings")))

    # -- messages ---------------------------------------------------------------------------------

    def append(self, name: str, message: Message) -> Message:
        """One round trip (two the first time a thread is used), whatever the thread's length:
        the new message is pushed, nothing else is read or rewritten."""
        message = replace(message, created_at=message.created_at or self._clock(), hidden=None,
                          id=None, parent=None)  # the script gives it its parent
        [stored] = self._append(name, [message], link=True)
        return stored

    def append_many(self, name: str, messages: list[Message]) -> list[Message]:
        """Add many messages in one step (an import, a copy: hidden ones stay hidden)."""
        return self._append(name, [replace(m, created_at=m.created_at or self._clock())
                                   for m in messages])

    def _append(self, name: str, messages: list[Message], *,
                link: bool = False) -> list[Message]:
        """The messages as stored: with their new ids, or as stored before (a uid sent twice);
        with ``link``, each follows the last visible message (its parent, set by the script,
        which answers with the item stored)."""
        messages = self._put_blobs(messages)
        args: list[str] = ["1" if link else ""]
        for m in messages:
            hidden_at = m.created_at if m.hidden else None
            args += [codec.body(m, hidden_at), repr(float(m.created_at)),
                     "" if hidden_at is None else repr(float(hidden_at)), m.uid]
        with self._guard():
            answers = self._call(self._append_script, name,
                                 lambda t: [*self._thread_keys(t), self._key("next_message")],
                                 args)
        return [replace(m, id=int(a)) if isinstance(a, int) else codec.decode(a)[0]
                for m, a in zip(messages, answers, strict=True)]

    def _read(self, name: str, start: int, stop: int) -> tuple[int, list[str]]:
        length, items = self._call(self._read_script, name,
                                   lambda t: [self._key("messages", t)], [start, stop])
        return int(length), list(items)

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]:
        """The conversation in order. With ``last``, only the tail is read (LRANGE): a little
        more than asked, and more again while hidden messages leave it short."""
        def keep(items: list[str]) -> list[Message]:
            decoded = (m for m, _ in map(codec.decode, items))
            return [m for m in decoded if hidden or m.hidden is None]

        with self._guard():
            if last is None:
                return keep(self._read(name, 0, -1)[1])
            if last <= 0:
                self._read(name, 1, 0)  # nothing to read, but the thread must exist
                return []
            chunk = last if hidden else last + 8
            length, items = self._read(name, -chunk, -1)
            found, start = keep(items), length - len(items)
            while len(found) < last and start > 0:
                chunk *= 2
                lo = max(0, start - chunk)
                found = keep(self._read(name, lo, start - 1)[1]) + found
                start = lo
        return found[-last:]

    def hide(self, name: str, ids: list[int], reason: str) -> None:
        """Take messages out of the conversation (kept, searchable); ``reason`` says why."""
        self._mark(name, ids, reason)

    def unhide(self, name: str, ids: list[int]) -> None:
        self._mark(name, ids, None)

    def _mark(self, name: str, ids: list[int], reason: str | None) -> None:
        """Rewrite the messages' list items, the hidden index and the count in one script that
        first checks the items are still the ones read (compare and set): appends never get in
        the way (positions do not move), a concurrent hide of the same messages makes it retry."""
        if not ids:
            return
        now = self._clock()
        with self._guard():
            thread, messages, hidden, _ = self._thread_keys(self._tid(name, fresh=True))
            for _ in range(scripts.ATTEMPTS):
                found = self._locate(messages, set(ids))
                if not found or self._rewrite_script(keys=[thread, messages, hidden],
                                                     args=codec.rewrites(found, reason, now)):
                    return
            raise redis.exceptions.WatchError()

    def _locate(self, key: str, ids: set[int]) -> dict[int, str]:
        """Positions and items of ``ids``, read from the end (ids grow along the list, and the
        messages taken out are nearly always the last ones)."""
        found: dict[int, str] = {}
        end, chunk, lowest = int(self._r.llen(key)), 64, min(ids)
        while end > 0 and len(found) < len(ids):
            start = max(0, end - chunk)
            items = cast(list[str], self._r.lrange(key, start, end - 1))
            for offset, raw in enumerate(items):
                if codec.message_id(raw) in ids:
                    found[start + offset] = raw
            if items and codec.message_id(items[0]) <= lowest:
                break
            end, chunk = start, chunk * 2
        return found

    def erase(self, name: str, ids: list[int]) -> int:
        """Remove the messages' items from the list, and their index entries; an item changed
        meanwhile (hidden, say) is read again."""
        erased, gone = 0, list[Message]()
        with self._guard():
            keys = self._thread_keys(self._tid(name, fresh=True))
            for _ in range(scripts.ATTEMPTS):
                found = self._locate(keys[1], set(ids)) if ids else {}
                if not found:
                    self._drop_blobs(gone)
                    return erased
                batch = [codec.decode(raw)[0] for raw in found.values()]
                self._mark_erasing(batch)
                gone += batch
                erased += int(self._erase_script(keys=list(keys), args=list(found.values())))
            raise redis.exceptions.WatchError()

    def purge(self, name: str) -> int:
        with self._guard():
            tids = [tid for tid, info in self._trashed() if info.name == name]
            if not tids:
                raise NotInTrashError(name)
            gone = [codec.decode(raw)[0] for tid in tids
                    for raw in cast(list[str], self._r.lrange(self._key("messages", tid), 0, -1))]
            self._mark_erasing(gone)
            for tid in tids:
                self._purge_script(keys=[self._key("trash"), *self._thread_keys(tid)],
                                   args=[tid])
        self._drop_blobs(gone)
        return len(tids)

    def last_hidden(self, name: str, reason: str) -> list[Message]:
        """The messages most recently hidden for ``reason`` (or a ``reason:detail``), together
        (one /undo, say). Reads only the hidden ones, through their index."""
        with self._guard():
            items = self._call(self._hidden_script, name,
                               lambda t: [self._key("messages", t), self._key("hidden", t)])
        return last_group([codec.decode(raw) for raw in items if raw], reason)

"""The Redis store's attachment bytes: one ``blob:<sha256>`` key per content, written before the
message that refers to it, read only to expand a request, deleted with the last message using
it (a scan of every thread: erasing is rare). An erase cut short is finished at the next open."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from typing import Any, cast

import redis

from repl.errors import StoreError
from repl.store import blobs
from repl.store.redis.search import Searching
from repl.thread import Message

ERASING = "erasing"  # a set: the blobs of an erase or purge under way
STALE = 3600.0  # seconds: a blob no message refers to, untouched this long, is a leftover
REFERENCE = re.compile(re.escape(blobs.PREFIX) + r"([0-9a-f]{64}):")


class Attachments(Searching):
    _bytes_client: redis.Redis | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._finish_erasure()

    def _raw(self) -> redis.Redis:
        """A client on the same server that keeps bytes as bytes (the main one decodes)."""
        if self._bytes_client is None:
            pool = self._r.connection_pool
            self._bytes_client = redis.Redis(connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class,
                **{**pool.connection_kwargs, "decode_responses": False}))
        return self._bytes_client

    def _put_blobs(self, messages: list[Message]) -> list[Message]:
        """The messages with references in place of their attachments, whose bytes are
        written (again: so a concurrent erase cannot leave the reference without them)."""
        out, found = [], {}
        for m in messages:
            if m.parts:
                parts, taken = blobs.take_out(m.parts)
                m = replace(m, parts=parts)
                found.update(taken)
            out.append(m)
        if found:
            with self._guard():
                self._raw().mset({self._key("blob", sha): raw for sha, raw in found.items()})
        return out

    def _mark_erasing(self, gone: list[Message]) -> None:
        """Before an erase or purge: its blobs, so that one cut short is finished later."""
        shas = {r.sha for m in gone for r in blobs.refs(m.parts)}
        if shas:
            with self._guard():
                self._r.sadd(self._key(ERASING), *shas)

    def _drop_blobs(self, gone: list[Message]) -> None:
        """Delete the blobs of ``gone`` and of any erase cut short that no stored message (any
        thread) refers to; and those of nobody that were not written for STALE seconds (what a
        crash left: a younger one may be an append's, written just before its message)."""
        with self._guard():
            shas = {r.sha for m in gone for r in blobs.refs(m.parts)}
            shas |= cast(set[str], self._r.smembers(self._key(ERASING)))
            keys = set(self._r.scan_iter(match=self._key("blob", "*"), count=1000))
            if keys:
                prefix = len(self._key("blob", ""))
                unused = {k[prefix:] for k in keys} - self._used()
                doomed = {s for s in unused if s in shas or self._stale(self._key("blob", s))}
                if doomed:
                    self._r.delete(*(self._key("blob", sha) for sha in doomed))
            if shas:
                self._r.srem(self._key(ERASING), *shas)

    def _used(self) -> set[str]:
        """The SHA-256 of every blob a stored message refers to (a scan of every thread)."""
        used: set[str] = set()
        for key in self._r.scan_iter(match=self._key("messages", "*"), count=1000):
            for raw in cast(list[str], self._r.lrange(key, 0, -1)):
                used.update(REFERENCE.findall(raw))
        return used

    def _stale(self, key: str) -> bool:
        try:
            return int(cast(int, self._r.object("idletime", key)) or 0) >= STALE
        except redis.exceptions.ResponseError:  # an LFU eviction policy keeps no idle time
            return False

    def _finish_erasure(self) -> None:
        """At open: the end of an erase or purge that was cut short, if one was."""
        with contextlib.suppress(StoreError), self._guard():
            if self._r.exists(self._key(ERASING)):
                self._drop_blobs([])

    def expand(self, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The request's messages with their attachments' bytes put back (blobs.py)."""
        return blobs.expand(payload, self._blob)

    def _blob(self, sha: str) -> bytes:
        with self._guard():
            raw = self._raw().get(self._key("blob", blobs.checked(sha)))
        if raw is None:
            raise StoreError(f"the Redis store at {self.where} lacks an attachment ({sha[:12]})")
        return cast(bytes, raw)

    def close(self) -> None:
        if self._bytes_client is not None:
            self._bytes_client.close()
        super().close()

"""The Redis store's attachment bytes: one ``blob:<sha256>`` key per content, written before the
message that refers to it, read only to expand a request, deleted with the last message using
it (a scan of every thread: erasing is rare)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import redis

from repl.errors import StoreError
from repl.store import blobs
from repl.store.redis.search import Searching
from repl.thread import Message


class Attachments(Searching):
    _bytes_client: redis.Redis | None = None

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

    def _drop_blobs(self, gone: list[Message]) -> None:
        """Delete the blobs of ``gone`` that no stored message (any thread) refers to."""
        shas = {r.sha for m in gone for r in blobs.refs(m.parts)}
        if not shas:
            return
        with self._guard():
            for key in self._r.scan_iter(match=self._key("messages", "*"), count=1000):
                for raw in cast(list[str], self._r.lrange(key, 0, -1)):
                    shas = {s for s in shas if f"{blobs.PREFIX}{s}:" not in raw}
                if not shas:
                    return
            self._r.delete(*(self._key("blob", sha) for sha in shas))

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

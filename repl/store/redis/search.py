"""The Redis store's search: plain Redis has no full-text index, so every live thread is read,
SCAN_BATCH messages a round trip; a cheap test on the raw JSON skips decoding most of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from repl.store import words
from repl.store.redis import codec, scripts
from repl.store.redis.connection import Connection
from repl.thread import Hit, TurnCounter


class Searching(Connection):
    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Messages of live threads containing every word of ``text`` (whole words, case and
        accents folded), most matches first, then newest. Its cost grows with everything
        stored: fine for one person's threads."""
        wanted = words.query(text)
        if not wanted:
            return []
        hits: list[tuple[int, Hit]] = []
        turns: dict[str, TurnCounter] = {}  # as a long thread comes in pieces
        with self._guard():
            names = cast(dict[str, str], self._r.hgetall(self._names))
            for name, items in self._lists(names):
                hits += _hits(name, items, wanted, turns.setdefault(name, TurnCounter()))
        return words.best(hits, limit)

    def _lists(self, names: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
        """Each live thread's messages, SCAN_BATCH at a time per round trip."""
        order = list(names)
        with self._r.pipeline(transaction=False) as pipe:
            for name in order:
                pipe.llen(self._key("messages", names[name]))
            lengths = [int(n) for n in pipe.execute()]
            batch: list[tuple[str, int, int]] = []
            size = 0
            for name, length in zip(order, lengths, strict=True):
                for start in range(0, length, scripts.SCAN_BATCH):
                    batch.append((name, start, min(length, start + scripts.SCAN_BATCH) - 1))
                    size += min(scripts.SCAN_BATCH, length - start)
                    if size >= scripts.SCAN_BATCH:
                        yield from self._fetch(pipe, names, batch)
                        batch, size = [], 0
            yield from self._fetch(pipe, names, batch)

    def _fetch(self, pipe: Any, names: dict[str, str],
               batch: list[tuple[str, int, int]]) -> Iterator[tuple[str, list[str]]]:
        for name, start, stop in batch:
            pipe.lrange(self._key("messages", names[name]), start, stop)
        results = pipe.execute() if batch else []
        for (name, _, _), items in zip(batch, results, strict=True):
            yield name, items


def _hits(name: str, items: list[str], wanted: set[str],
          turns: TurnCounter) -> list[tuple[int, Hit]]:
    """The hits among a piece of one thread's messages (``turns`` counts on through them)."""
    hits: list[tuple[int, Hit]] = []
    for raw in items:
        turn = turns.step(**codec.turn_signs(raw))
        if codec.may_match(raw, wanted):
            found = words.hit(name, codec.decode(raw)[0], wanted, turn)
            if found:
                hits.append(found)
    return hits

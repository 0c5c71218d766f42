"""Words as SQLite's FTS5 unicode61 tokenizer sees them, for the stores that search by scanning
(JSON files, Redis): splitting, folding case and accents, matching, and highlighted snippets."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from repl.thread import HIGHLIGHT, Hit, Message

_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")


@lru_cache(maxsize=8192)
def _in_word(c: str) -> bool:
    return unicodedata.category(c)[0] in "LNM"  # a mark belongs to its letter


def spans(text: str) -> list[tuple[int, int]]:
    if text.isascii():
        return [m.span() for m in _ASCII_WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    start = -1
    for i, c in enumerate(text):
        if _in_word(c):
            if start < 0:
                start = i
        elif start >= 0:
            spans.append((start, i))
            start = -1
    if start >= 0:
        spans.append((start, len(text)))
    return spans


def fold(word: str) -> str:
    """Case and diacritics folded away: 'Café' and 'cafe' are one word."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def snippet(text: str, spans: list[tuple[int, int]], matched: list[int], size: int = 16) -> str:
    """About ``size`` words from just before the first match, matches between HIGHLIGHT marks."""
    start = max(0, min(matched[0] - 3, len(spans) - size))
    end = min(len(spans), start + size)
    out = ["…" if start else text[:spans[0][0]]]
    pos = spans[start][0]
    for a, b in (spans[i] for i in matched if start <= i < end):
        out += [text[pos:a], HIGHLIGHT[0], text[a:b], HIGHLIGHT[1]]
        pos = b
    out.append(text[pos:spans[end - 1][1]])
    out.append("…" if end < len(spans) else text[spans[-1][1]:])
    return "".join(out)


def matches(content: str, words: set[str]) -> tuple[list[tuple[int, int]], list[int]] | None:
    """The word spans of ``content`` and which of them match, when every one of ``words`` does."""
    if content.isascii():
        low = content.lower()
        if not all(w in low for w in words):  # cheap: rules out most messages
            return None
    found = spans(content)
    folded = [fold(content[a:b]) for a, b in found]
    matched = [i for i, w in enumerate(folded) if w in words]
    if len({folded[i] for i in matched}) < len(words):
        return None
    return found, matched


def query(text: str) -> set[str]:
    """The folded words a search for ``text`` must find."""
    return {fold(text[a:b]) for a, b in spans(text)}


def hit(thread: str, m: Message, wanted: set[str], turn: int) -> tuple[int, Hit] | None:
    """Message ``m`` as a search hit (with its rank: how many words matched), or None."""
    found = matches(m.content, wanted)
    if not found:
        return None
    spans, matched = found
    return len(matched), Hit(thread, m.id or 0, m.role, snippet(m.content, spans, matched),
                             max(turn, 1), m.created_at, m.hidden)


def best(hits: list[tuple[int, Hit]], limit: int) -> list[Hit]:
    """The ranking of the scanning stores: most matched words first, then newest."""
    hits.sort(key=lambda h: (-h[0], -h[1].created_at, -h[1].message_id))
    return [h for _, h in hits[:limit]]

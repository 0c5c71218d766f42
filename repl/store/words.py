"""Words as SQLite's FTS5 unicode61 tokenizer sees them, for the stores that search by scanning
(JSON files, Redis): splitting, folding case and accents, matching, and highlighted snippets.

A searched word matches the words it begins ("tok" finds "tokens"); one in a script written
without spaces (Chinese, Japanese, Korean) matches anywhere inside a word, as such text is one
long "word" between punctuation ("天気" finds "今日はいい天気ですね")."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from repl.parts import searchable
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


_CJK = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
        (0xF900, 0xFAFF), (0xFF66, 0xFF9F), (0x20000, 0x3134F))


def unspaced(word: str) -> bool:
    """Whether ``word`` has letters of a script written without spaces between words."""
    return not word.isascii() and any(lo <= ord(c) <= hi for c in word for lo, hi in _CJK)


def _hits(word: str, wanted: set[str]) -> set[str]:
    return {q for q in wanted if word.startswith(q) or (q in word and unspaced(q))}


def matches(content: str, words: set[str]) -> tuple[list[tuple[int, int]], list[int]] | None:
    """The word spans of ``content`` and which of them match, when every one of ``words`` does
    (as a prefix, or anywhere inside for unspaced scripts)."""
    if content.isascii():
        low = content.lower()
        if not all(w in low for w in words):  # cheap: rules out most messages
            return None
    found = spans(content)
    matched, seen = [], set()
    for i, (a, b) in enumerate(found):
        hit = _hits(fold(content[a:b]), words)
        if hit:
            matched.append(i)
            seen |= hit
    if len(seen) < len(words):
        return None
    return found, matched


def query(text: str) -> set[str]:
    """The folded words a search for ``text`` must find."""
    return {fold(text[a:b]) for a, b in spans(text)}


def hit(thread: str, m: Message, wanted: set[str], turn: int) -> tuple[int, Hit] | None:
    """Message ``m`` as a search hit (with its rank: how many words matched), or None."""
    text = searchable(m)
    found = matches(text, wanted)
    if not found:
        return None
    spans, matched = found
    return len(matched), Hit(thread, m.id or 0, m.role, snippet(text, spans, matched),
                             max(turn, 1), m.created_at, m.hidden)


def best(hits: list[tuple[int, Hit]], limit: int) -> list[Hit]:
    """The ranking of the scanning stores: most matched words first, then newest."""
    hits.sort(key=lambda h: (-h[0], -h[1].created_at, -h[1].message_id))
    return [h for _, h in hits[:limit]]

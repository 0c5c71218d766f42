r"""Where an inline formula is in markdown text, by pandoc's rules, so that money and shell
variables stay text: an opening ``$`` has a non-space right after it, the closing one a non-space
right before it and no digit after it (``$5 and $10`` is no formula); ``\(...\)`` and
``$$...$$`` always, and ``\[...\]`` when it holds some TeX (``\[1\]`` is an escaped ``[1]``).
Pure: the terminal's renderer (repl.render.math) and the HTML export both find math here."""

from __future__ import annotations

import re

CLOSERS = {"$$": "$$", "\\[": "\\]", "\\(": "\\)", "$": "$"}
DISPLAY = ("$$", "\\[")  # the openers of a formula that stands on its own
# what $NAME/... between two dollars is when NAME looks like an environment variable's name
_SHELL = re.compile(r"[A-Z_][A-Z0-9_]+(?:[/:.-][^\\^{}=]*)?")
TEX = "\\^_{}="  # what an inline \[...\] holds one of to be math


def span(src: str, pos: int) -> tuple[str, int] | None:
    """The inline formula starting at ``pos``: (its opening delimiter, where it ends)."""
    opener = next((o for o in ("$$", "\\(", "\\[", "$") if src.startswith(o, pos)), None)
    if opener is None:
        return None
    closer, start = CLOSERS[opener], pos + len(opener)
    if opener != "$":
        close = src.find(closer, start)
        body = src[start:close] if close > start else ""
        if not body.strip() or (opener == "\\[" and not any(c in body for c in TEX)):
            return None
        return opener, close + len(closer)
    if start >= len(src) or src[start].isspace():
        return None
    close = src.find("$", start)
    while close > 0 and src[close - 1] == "\\":  # \$ is a dollar sign inside the formula
        close = src.find("$", close + 1)
    if close <= start or src[close - 1].isspace() or src[close + 1:close + 2].isdigit():
        return None
    if _SHELL.fullmatch(src, start, close):
        return None  # $HOME/$USER: shell variables, where a formula would show no dollars
    return opener, close + 1

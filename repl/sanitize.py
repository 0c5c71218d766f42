"""Make untrusted text (model output, imported text, names, error messages) safe for a terminal.

Every character that a terminal could act on, rather than print, is replaced by a visible
stand-in: C0 controls other than newline and tab (and the CR of a CRLF) become Unicode control
pictures (ESC shows as ␛), DEL shows as ␡, and C1 controls and bidirectional overrides show as
<U+XXXX>. Stored text is never changed; only what is displayed passes through here.

A name, a question or a menu entry is one line (clean_line): line breaks, and every invisible
format character too (zero-width spaces, joiners, tags, soft hyphens), are shown, so that no
name can hide, reorder or spread what is around it.
"""

from __future__ import annotations

import re

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
# Unicode's format characters (category Cf, as of Unicode 15) and its line and paragraph
# separators (Zl, Zp): shown in a line, kept in text (where joiners make emoji)
_INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200d\u2028\u2029"
    "\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")


def _visible(match: re.Match[str]) -> str:
    return stand_in(match.group())


def stand_in(char: str) -> str:
    """The visible stand-in of one unsafe or invisible character (␛, <U+202E>)."""
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return f"<U+{code:04X}>"


BIDI = re.compile(f"[{_BIDI}\u2028\u2029]")  # what reorders or breaks a line being edited


def clean(text: str) -> str:
    """``text`` with every terminal control (except newline and tab) made visible."""
    return _UNSAFE.sub(_visible, text.replace("\r\n", "\n"))


def clean_line(text: str) -> str:
    """``text`` as one safe line, for a name, a question, a menu entry or an error: as clean()
    makes it, with newlines shown as ␤, tabs as spaces, invisible characters as <U+XXXX>."""
    line = clean(text).replace("\n", "\u2424").replace("\t", " ")
    return _INVISIBLE.sub(_visible, line)

"""Make untrusted text (model output, imported text, names, error messages) safe for a terminal.

Every character that a terminal could act on, rather than print, is replaced by a visible
stand-in: C0 controls other than newline and tab (and the CR of a CRLF) become Unicode control
pictures (ESC shows as ␛), DEL shows as ␡, and C1 controls and bidirectional overrides show as
<U+XXXX>. Stored text is never changed; only what is displayed passes through here.
"""

from __future__ import annotations

import re

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return f"<U+{code:04X}>"


def clean(text: str) -> str:
    """``text`` with every terminal control (except newline and tab) made visible."""
    return _UNSAFE.sub(_visible, text.replace("\r\n", "\n"))


def clean_line(text: str) -> str:
    """Like clean(), for a value shown on one line (a name, an error): newlines and tabs too."""
    return clean(text).replace("\n", "\u2424").replace("\t", " ")

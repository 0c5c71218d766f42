"""Secrets kept out of every line shown and every log written: the one primitive that hides them.

``scrub`` takes each secret out of a text in every form it takes there (as is, a str's or a bytes'
repr, JSON, URL quoting, each of its lines), and the ``user:password@`` of any URL in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

HIDDEN = "***"
SHORTEST = 4  # characters: a shorter secret is hidden only as a whole word, not inside words
# the userinfo of a URL: scheme://[user[:password]]@ (up to the last @ before the path)
_CREDENTIAL = re.compile(r"auth|key|token|secret|password", re.IGNORECASE)  # a header's name
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]*(?:@[^/?#\s@]*)*@")


def forms(secret: str) -> set[str]:
    """``secret`` as an error or a traceback may spell it: escaped as Python and JSON do, as
    bytes, URL-quoted; each line of a secret of several lines too."""
    quotes = secret + "'\""  # a repr inside one holding both quotes escapes the single one
    found = {secret, secret.strip(), repr(secret)[1:-1], repr(secret.encode())[2:-1],
             repr(quotes)[1:-4], repr(quotes.encode())[2:-4],
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote(secret)}
    found.update(line.strip() for line in secret.splitlines())
    return {f for f in found if f}


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret (in each of its forms) and every URL's credentials hidden."""
    every: set[str] = set()
    for secret in secrets:
        if secret:
            every |= forms(secret)
    for form in sorted(every, key=len, reverse=True):  # the longest first: none left in part
        if len(form) >= SHORTEST:
            text = text.replace(form, HIDDEN)
        else:
            text = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", HIDDEN, text)
    return _USERINFO.sub(rf"\g<1>{HIDDEN}@", text)


def where(base_url: str | None) -> str:
    """An endpoint as the store keys what chatrepl learns of it, and as an answer records it:
    its address without the ``user:password@`` or the query it may carry (a key can be in
    either); api.openai.com when none is set."""
    if not base_url:
        return "api.openai.com"
    url = urlsplit(base_url)
    return f"{url.scheme}://{url.netloc.rpartition('@')[2]}{url.path}"


def url_secrets(url: str | None) -> list[str]:
    """The user name and password a URL carries (``https://user:pass@host``), as written and
    unquoted."""
    found = _USERINFO.match(url or "")
    if not found:
        return []
    userinfo = found.group(0)[len(found.group(1)):-1]
    parts = [userinfo, *userinfo.split(":", 1)]
    return [p for part in parts for p in {part, unquote(part)} if p]


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The values of ``headers`` whose names say they hold a credential (Authorization,
    X-Api-Key, ...), and their last words (the token of ``Bearer TOKEN``)."""
    values = [value for name, value in headers.items() if _CREDENTIAL.search(name)]
    return values + [value.split()[-1] for value in values if value.split()]

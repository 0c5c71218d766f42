"""Secrets kept out of every line shown and every log written: the one primitive that hides them.

``scrub`` takes each secret out of a text in every form it takes there (as is, a str's or a bytes'
repr, JSON once or twice, HTML, URL quoting in either case, base64 at any alignment, each of its
lines), and the ``user:password@`` of any URL in it. It never raises, whatever a secret holds: a
variable that is not UTF-8 arrives from the environment with surrogates in it.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, unquote_plus, urlsplit

HIDDEN = "***"
SHORTEST = 4  # characters: a shorter secret is hidden only as a whole word, not inside words
# the userinfo of a URL: scheme://[user[:password]]@ (up to the last @ before the path)
_CREDENTIAL = re.compile(r"auth|key|token|secret|password", re.IGNORECASE)  # a header's name
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]*(?:@[^/?#\s@]*)*@")
_ESCAPE = re.compile(r"%[0-9A-F]{2}")


@functools.lru_cache(maxsize=64)  # the same few secrets, scrubbed from many lines (mcp.log)
def forms(secret: str) -> frozenset[str]:
    """``secret`` as an error or a traceback may spell it: escaped as Python, JSON (once or
    twice) and HTML do, as bytes, URL-quoted, in base64; each line of a secret of several
    lines too."""
    once = _escaped(secret)
    found = {secret, secret.strip(), *once, *(twice for e in once for twice in _escaped(e))}
    for raw in _raw(secret):
        found.update((repr(raw)[2:-1], repr(raw + b"'\"")[2:-4]))
        for quoted in (quote(raw, safe=""), quote(raw)):
            found.update((quoted, _ESCAPE.sub(lambda m: m[0].lower(), quoted)))
        found.update(_base64(raw))
    found.update(line.strip() for line in secret.splitlines())
    return frozenset(f for f in found if f)


def _escaped(text: str) -> set[str]:
    """``text`` inside a Python string's repr (beside both quotes or not), a JSON string, and
    HTML (as Python, markupsafe and Go escape its quotes)."""
    quotes = text + "'\""  # a repr inside one holding both quotes escapes the single one
    markup = html.escape(text)
    return {repr(text)[1:-1], repr(quotes)[1:-4], json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1], markup, html.escape(text, quote=False),
            markup.replace("&quot;", "&#34;").replace("&#x27;", "&#39;")}


def _raw(secret: str) -> set[bytes]:
    """The bytes ``secret`` stands for: those the environment read (a surrogate for each byte
    that is not UTF-8), and with any other lone surrogate kept as UTF-8 would write it."""
    found = {secret.encode("utf-8", "surrogatepass")}
    try:
        found.add(secret.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        pass
    return found


def _base64(raw: bytes) -> set[str]:
    """``raw`` in base64, standard and urlsafe, padded or not: alone, as ``Bearer`` sends it,
    and inside any longer text. There its spelling depends on where it starts, modulo 3: each
    of the three is the whole groups of 3 bytes left once 0, 1 or 2 bytes are skipped (at most
    2 bytes at each end mix with their neighbours', and stay)."""
    whole = [raw, b"Bearer " + raw]
    for skip in (0, 1, 2):
        rest = raw[skip:]
        whole.append(rest[:len(rest) // 3 * 3])
    found: set[str] = set()
    for data in filter(None, whole):
        for encoded in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
            found.update((encoded.decode(), encoded.decode().rstrip("=")))
    return found


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
    either); api.openai.com when none is set. Always text a store can hold, never an error:
    a byte that is not UTF-8 is spelled ``\\udcXX``; an address that is no URL (an unclosed
    ``[``) is kept up to its query, for the HTTP client to refuse when it is used."""
    if not base_url:
        return "api.openai.com"
    try:
        url = urlsplit(base_url)
        address = f"{url.scheme}://{url.netloc.rpartition('@')[2]}{url.path}"
    except ValueError:  # an unclosed [ of an IPv6 host
        address = _USERINFO.sub(r"\g<1>", base_url.partition("?")[0].partition("#")[0])
    return address.encode("utf-8", "backslashreplace").decode()


def shown(base_url: str | None) -> str:
    """An endpoint's address as an error line shows it: its ``user:password@`` and each value
    of its query hidden (``?key=***``), a byte that is not UTF-8 spelled ``\\udcXX``;
    api.openai.com when none is set."""
    address = scrub(base_url or "api.openai.com")
    path, mark, query = address.partition("?")
    query, hash_, fragment = query.partition("#")
    items = (item.partition("=") for item in query.split("&"))
    hidden = "&".join(f"{name}={HIDDEN}" if eq else HIDDEN if name else ""
                      for name, eq, _ in items)
    address = f"{path}{mark}{hidden if mark else ''}{hash_}{fragment}"
    return address.encode("utf-8", "backslashreplace").decode()


def url_secrets(url: str | None) -> list[str]:
    """The user name and password a URL carries (``https://user:pass@host``) and the values of
    its query (``?key=...``), as written and unquoted."""
    found = _USERINFO.match(url or "")
    parts: list[str] = []
    if found:
        userinfo = found.group(0)[len(found.group(1)):-1]
        parts += [userinfo, *userinfo.split(":", 1)]
    for item in (url or "").partition("?")[2].partition("#")[0].split("&"):
        name, eq, value = item.partition("=")
        parts.append(value if eq else name)  # a value may hold "=" (base64's padding)
    return [p for part in parts for p in {part, unquote(part), unquote_plus(part)} if p]


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The values of ``headers`` whose names say they hold a credential (Authorization,
    X-Api-Key, ...), and their last words (the token of ``Bearer TOKEN``)."""
    values = [value for name, value in headers.items() if _CREDENTIAL.search(name)]
    return values + [value.split()[-1] for value in values if value.split()]

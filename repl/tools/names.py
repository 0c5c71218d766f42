"""The name the model calls an MCP tool by (pure: no I/O, no mcp): valid for every API
(^[a-zA-Z0-9_-]{1,64}$), distinct among the session's tools, and stable: the same tool gets the
same name in every session with the same servers, so the calls a thread stored keep naming it.

``server__tool`` when that is a valid name that can only mean this tool. Otherwise (a character
an API refuses, a name too long, or a server name that ``__`` makes ambiguous: server ``a``'s
``b__c`` and server ``a__b``'s ``c``) the valid part, cut to fit, then ``_`` and the first
characters of the SHA-256 of ``server.tool``: ``a.b`` and ``a_b`` no longer meet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection

from repl.thread import free_name

LIMIT = 64  # characters of a function's name
DIGEST = 10  # hex digits of the SHA-256 that tell apart the names that had to change
_VALID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_REFUSED = re.compile(r"[^A-Za-z0-9_-]")


def api_name(server: str, tool: str, servers: Collection[str]) -> str:
    """What the model calls ``tool`` of ``server`` by, among the configured ``servers``."""
    name = f"{server}__{tool}"
    ambiguous = any(other != server and name.startswith(f"{other}__") for other in servers)
    if _VALID.match(name) and not ambiguous:
        return name
    digest = hashlib.sha256(f"{server}.{tool}".encode()).hexdigest()[:DIGEST]
    return f"{_REFUSED.sub('_', name)[:LIMIT - DIGEST - 1]}_{digest}"


def unique(name: str, taken: Callable[[str], bool]) -> str:
    """``name``, or a free ``name-N`` if another tool has it: only a server that names its tools
    after another's digests gets here, and the tool listed first keeps the name."""
    return free_name(name, taken, limit=LIMIT)

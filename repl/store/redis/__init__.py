"""The Redis store (``redis://``, ``rediss://``): scripts.py holds the key layout and the Lua
scripts, codec.py the encoding, connection.py redis-py and its errors, search.py the scan, and
store.py the operations."""

from __future__ import annotations

from repl.store.redis.store import RedisStore

__all__ = ["RedisStore"]

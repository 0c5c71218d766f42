"""Factories for every store backend, for the contract suite: factory(base_dir) -> store; and
the two-process append every backend's concurrency test runs.

Calling a factory again with the same directory opens the same data, as a second process would.
Redis runs for real: the server named by CHATREPL_TEST_REDIS (.ci/run starts one), else a
redis-server this module starts on a free loopback port for the session.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from repl.store import ThreadStore
from repl.thread import Message, Usage

_server: dict[str, str] = {}
# read once, at import: the autouse fixture clears every CHATREPL_* variable inside tests
_CI_REDIS = os.environ.get("CHATREPL_TEST_REDIS")


def redis_url() -> str:
    if _CI_REDIS:
        return _CI_REDIS
    if "url" not in _server:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed (.ci/run installs it)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        workdir = tempfile.mkdtemp(prefix="chatrepl-redis-")
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", workdir],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(proc.terminate)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        _server["url"] = f"redis://127.0.0.1:{port}/0"
    return _server["url"]


def sqlite(base: Path) -> ThreadStore:
    from repl.store.sqlite import SQLiteStore

    return SQLiteStore(base / "x" / "chatrepl.db")


def jsonfiles(base: Path) -> ThreadStore:
    from repl.store.jsonfiles import JSONStore

    return JSONStore(base / "threads")


def redis(base: Path) -> ThreadStore:
    from repl.store.redis import RedisStore

    return RedisStore(redis_url(), namespace=f"test:{base}")


def _folder(backend: str, base: Path) -> Path:
    """The directory the file-based ``backend`` store made by its factory keeps under ``base``."""
    return base / ("x" if backend == "sqlite" else "threads")


def store_size(backend: str, base: Path) -> int:
    """The bytes the (closed) ``backend`` store at ``base`` takes: its files, or for Redis its
    keys' memory."""
    if backend == "redis":
        import redis as redis_client

        client = redis_client.Redis.from_url(redis_url())
        try:
            return sum(int(client.memory_usage(k) or 0)
                       for k in client.scan_iter(match=f"test:{base}:*", count=1000))
        finally:
            client.close()
    return sum(p.stat().st_size for p in _folder(backend, base).rglob("*") if p.is_file())


def stored_bytes(backend: str, base: Path) -> bytes:
    """Everything the ``backend`` store at ``base`` keeps, as raw bytes: its files (SQLite's
    database, -wal and -shm; every file of the JSON directory), or for Redis every key's DUMP
    and value."""
    if backend == "redis":
        import redis as redis_client

        client = redis_client.Redis.from_url(redis_url())
        try:
            keys = list(client.scan_iter(match=f"test:{base}:*", count=1000))
            assert keys, "no keys: the wrong namespace"
            dumps = [key + (client.dump(key) or b"") for key in keys]
            for key in keys:
                kind = client.type(key)
                value = {b"string": client.get, b"hash": client.hgetall,
                         b"list": lambda k: client.lrange(k, 0, -1),
                         b"zset": lambda k: client.zrange(k, 0, -1),
                         b"set": client.smembers}[kind](key)
                dumps.append(repr(value).encode())
        finally:
            client.close()
        return b"\n".join(dumps)
    found = [p.read_bytes() for p in sorted(_folder(backend, base).rglob("*")) if p.is_file()]
    assert found, "no files: the wrong directory"
    return b"\n".join(found)


WHOLE = [  # the whole API message: parts (unknown types too), tool calls, names, unknown keys
    Message("user", "look\n\nand this", parts=(
        {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {
            "url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "text", "text": "and this"}, {"type": "x-new", "data": [1, {"k": None}]}),
        fields={"name": "ann", "x_unknown": {"nested": ["v", 1.5, True]}}),
    Message("assistant", "", fields={"tool_calls": [{"id": "call_1", "type": "function",
                                                     "function": {"name": "f",
                                                                  "arguments": '{"a": 1}'}}],
                                     "refusal": None},
            reasoning="first I think", usage=Usage(120, 40, 100, 30),
            meta={"response_id": "resp_1", "output": [
                {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA", "summary": []}]}),
    Message("tool", "42", fields={"tool_call_id": "call_1", "hidden": "not ours", "id": 7}),
    Message("user", "", parts=()),
]


BACKENDS: dict[str, Callable[[Path], ThreadStore]] = {
    "sqlite": sqlite,
    "json": jsonfiles,
    "redis": redis,
}


_APPENDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import stores
    from repl.thread import Message
    backend, base, url, tag = sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5]
    go, n = Path(sys.argv[6]), int(sys.argv[7])
    if url:
        stores._server["url"] = url  # the test's redis-server, not one of its own
    s = stores.BACKENDS[backend](base)
    deadline = time.time() + 20
    while not go.exists() and time.time() < deadline:
        time.sleep(0.001)
    for i in range(n):
        s.append("shared", Message("user", f"{tag}-{i}"))
        time.sleep(0.001)  # give the other writer a chance, so the two really interleave
    s.close()
    print("ok")
""")


def two_processes_append(backend: str, base: Path, n: int = 200) -> list[Message]:
    """Two processes, released together, append ``n`` messages each to the thread "shared" of
    the ``backend`` store at ``base``. Checks that nothing was lost, that each writer's messages
    kept their order and that the two really interleaved; returns the thread's messages."""
    setup = BACKENDS[backend](base)
    setup.create("shared")
    url = redis_url() if backend == "redis" else ""
    go = base / "go"
    here = str(Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, here, backend, str(base), url,
                               tag, str(go), str(n)], cwd=Path(here).parent, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for tag in ("p1", "p2")]
    time.sleep(0.3)  # both are importing and opening; release them together
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    messages = setup.messages("shared")
    info = setup.get("shared")
    setup.close()
    contents = [m.content for m in messages]
    assert len(contents) == 2 * n
    for tag in ("p1", "p2"):
        assert [c for c in contents if c.startswith(tag + "-")] == [f"{tag}-{i}" for i in range(n)]
    switches = sum(1 for x, y in itertools.pairwise(contents) if x[:2] != y[:2])
    assert switches > 1, "the two writers never overlapped: the test did not test concurrency"
    assert info is not None and info.message_count == 2 * n
    return messages


def thread_file(path: Path) -> dict[str, Any]:
    """A JSON store's thread file as one document: its header line's fields, and "messages",
    the lines after it (read here as the format says, not by the store's code)."""
    head, *messages = (json.loads(line) for line in path.read_text("utf-8").splitlines())
    return {**head, "messages": messages}

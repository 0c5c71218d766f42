"""Factories for every store backend, for the contract suite: factory(base_dir) -> store.

Calling a factory again with the same directory opens the same data, as a second process would.
Redis runs for real: the server named by CHATREPL_TEST_REDIS (.ci/run starts one), else a
redis-server this module starts on a free loopback port for the session.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from repl.store import ThreadStore

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


BACKENDS: dict[str, Callable[[Path], ThreadStore]] = {
    "sqlite": sqlite,
    "json": jsonfiles,
    "redis": redis,
}

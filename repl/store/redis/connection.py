"""The Redis store's connection: redis-py set up (no retries behind our back), its errors as
StoreError, thread names resolved to ids, and the small state hash."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from repl.errors import ConfigError, StoreBusyError, StoreError, ThreadError
from repl.redaction import scrub
from repl.store.redis import codec, scripts
from repl.thread import ThreadInfo


class Connection:
    def __init__(self, url: str, *, password: str | None = None, namespace: str = "chatrepl",
                 timeout: float = scripts.TIMEOUT, clock: Callable[[], float] = time.time) -> None:
        # The password comes from the URL or ``password`` (Config.redis_password) and is handed
        # to redis-py only: nothing here keeps it, and no message names more than host:port.
        extra: dict[str, Any] = {"password": password} if password else {}
        try:
            self._r = redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # never retried behind our back: a write whose answer was lost must not be
                # written twice; the caller (BufferedStore) decides what to do again
                retry=Retry(NoBackoff(), 0), **extra)  # the URL's password wins
        except ValueError as e:
            raise ConfigError(f"not a valid Redis store URL ({e})") from None
        kwargs = self._r.connection_pool.connection_kwargs
        self.where = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        self._clock = clock
        self._ns = namespace
        self._names = self._key("threads")
        self._tids: dict[str, str] = {}  # name -> thread id; every script checks it still holds
        self._append_script = self._r.register_script(scripts.APPEND)
        self._create_script = self._r.register_script(scripts.CREATE)
        self._update_script = self._r.register_script(scripts.UPDATE)
        self._rename_script = self._r.register_script(scripts.RENAME)
        self._delete_script = self._r.register_script(scripts.DELETE)
        self._restore_script = self._r.register_script(scripts.RESTORE)
        self._read_script = self._r.register_script(scripts.READ)
        self._rewrite_script = self._r.register_script(scripts.REWRITE)
        self._hidden_script = self._r.register_script(scripts.HIDDEN)
        self._erase_script = self._r.register_script(scripts.ERASE)
        self._purge_script = self._r.register_script(scripts.PURGE)
        try:
            self._check_schema()  # connects: a server that cannot be reached fails here
        except TypeError as e:  # an option in the URL's query that redis-py does not know
            self._r.close()
            option = re.search(r"argument '(\w+)'", str(e))
            raise ConfigError("not a valid Redis store URL (unknown option "
                              f"{option.group(1) if option else str(e)!r})") from None
        except BaseException:
            self._r.close()
            raise

    def _key(self, *parts: str) -> str:
        return ":".join((self._ns, *parts))

    def _thread_keys(self, tid: str) -> tuple[str, str, str, str]:
        """The thread's hash, message list, hidden index and uid index."""
        return (self._key("thread", tid), self._key("messages", tid), self._key("hidden", tid),
                self._key("uids", tid))

    def _check_schema(self) -> None:
        with self._guard(), self._r.pipeline() as pipe:
            pipe.setnx(self._key("schema"), scripts.SCHEMA)
            pipe.get(self._key("schema"))
            version = int(pipe.execute()[1])
        if version < scripts.SCHEMA:  # the items of layout 1 read as they are: marked newer,
            with self._guard():       # so an older chatrepl never rewrites them without parts
                self._r.set(self._key("schema"), scripts.SCHEMA)
        if version > scripts.SCHEMA:
            raise StoreError(f"the Redis store at {self.where} (namespace {self._ns!r}) was "
                             f"written by a newer chatrepl (layout {version}); upgrade chatrepl")

    # -- errors -----------------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.RedisError as e:
            raise self._error(e) from None

    def _error(self, e: redis.exceptions.RedisError) -> StoreError:
        reason = codec.error_reason(str(e)) or type(e).__name__
        secret = self._r.connection_pool.connection_kwargs.get("password")
        reason = scrub(reason, [str(secret)] if secret else [])
        at = f"the Redis store at {self.where}"
        if isinstance(e, redis.exceptions.AuthenticationError):
            if secret:
                return StoreError(f"{at} refused the password: {reason}")
            return StoreError(f"{at} needs a password (give it in the URL or REDIS_PASSWORD)")
        if isinstance(e, redis.exceptions.ConnectionError):
            return StoreError(f"cannot reach {at}: {reason}")
        if isinstance(e, redis.exceptions.TimeoutError):
            kwargs = self._r.connection_pool.connection_kwargs
            if "connecting" in str(e):
                return StoreError(f"cannot reach {at}: no connection within "
                                  f"{kwargs.get('socket_connect_timeout'):g} s")
            return StoreError(f"{at} did not answer within {kwargs.get('socket_timeout'):g} s")
        if isinstance(e, redis.exceptions.WatchError):
            return StoreBusyError(f"{at} is busy: other clients kept changing the thread")
        return StoreError(f"{at} refused the request: {reason}")

    # -- thread ids -------------------------------------------------------------------------------

    def _tid(self, name: str, *, fresh: bool = False) -> str:
        if not fresh and name in self._tids:
            return self._tids[name]
        tid = self._r.hget(self._names, name)
        if tid is None:
            self._tids.pop(name, None)
            raise ThreadError(f"no thread named {name!r}")
        self._tids[name] = str(tid)
        return str(tid)

    def _call(self, script: Any, name: str, keys: Callable[[str], Sequence[str]],
              args: Sequence[Any] = ()) -> Any:
        """Run a thread script on ``name``, looking its id up again if it moved meanwhile."""
        for attempt in range(scripts.ATTEMPTS):
            tid = self._tid(name, fresh=attempt > 0)
            result = script(keys=[self._names, *keys(tid)], args=[name, tid, *args])
            if result != scripts.MOVED:
                return result
        raise redis.exceptions.WatchError()

    # -- threads ----------------------------------------------------------------------------------

    def _infos(self, tids: Sequence[str]) -> list[ThreadInfo | None]:
        """The threads' metadata, in the order of ``tids`` (None for one that is gone)."""
        with self._r.pipeline(transaction=False) as pipe:
            for tid in tids:
                pipe.hgetall(self._key("thread", tid))
            hashes = cast(list[dict[str, str]], pipe.execute())
        return [codec.info(h) if "name" in h else None for h in hashes]

    # -- small state (the thread used last) -------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        with self._guard():
            value = self._r.hget(self._key("state"), key)
        return None if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        with self._guard():
            self._r.hset(self._key("state"), key, value)

    def close(self) -> None:
        self._r.close()

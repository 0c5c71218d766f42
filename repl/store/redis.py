"""The Redis store: the same threads on every machine that points at one Redis server.

Every write is one atomic step on the server, so several machines can write one thread at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from repl.errors import ConfigError, StoreBusyError, StoreError, ThreadError
from repl.store import words
from repl.thread import Hit, Message, ThreadInfo, Usage

# Keys, all under "{namespace}:"; a thread's keys use its id, so a rename moves nothing:
#
#   schema          the layout version ("1"); a newer one is refused
#   threads         hash    live thread name -> thread id (unique names: HSETNX)
#   thread:{tid}    hash    name, model, system, created_at, updated_at, count (of visible
#                           messages), deleted_at (while in the trash)
#   messages:{tid}  list    one JSON object per message, oldest first, never shortened (so a
#                           message keeps its position); hidden ones stay, marked "hidden"
#   hidden:{tid}    zset    the position of each hidden message, scored by when it was hidden
#   trash           zset    thread id, scored by when it was deleted
#   next_message    counter for message ids (INCR); next_thread: the same for thread ids
#   state           hash    small settings (the thread used last)
#
# Atomicity: a Lua script for append (INCR + RPUSH + count + updated_at), create, rename,
# delete, restore and update; for hide and unhide, a script that rewrites the items only if they
# are still as read (compare and set, retried); for fork, WATCH/MULTI (retried).
# For one Redis server (or primary), not Cluster: an operation touches the names hash and a
# thread's keys, which Cluster would put in different slots.

SCHEMA = 1
TIMEOUT = 5.0  # seconds to connect or to wait for an answer: a lost server is an error, no hang
ATTEMPTS = 20  # optimistic transactions retried this often before the store is called busy
SCAN_BATCH = 5_000  # messages fetched per round trip when searching

_MOVED = -1  # a script's answer when the name no longer belongs to the thread id it was given

# Every thread script starts here: KEYS[1] is the names hash, ARGV[1] a name, ARGV[2] the
# thread id the caller resolved it to. A rename or delete in between makes the caller look again.
_VERIFY = "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end\n"

# KEYS: names, thread, list, hidden, next_message; ARGV: name, tid, then per message its JSON
# without the id, created_at, hidden_at ('' when visible). The id is allocated and the message
# stored in one step, so list order is id order whatever other machines do.
_APPEND = _VERIFY + """
local ids, visible, newest = {}, 0, nil
local latest = tonumber(redis.call('HGET', KEYS[2], 'updated_at')) or 0
for i = 3, #ARGV, 3 do
  local id = redis.call('INCR', KEYS[5])
  local length = redis.call('RPUSH', KEYS[3], string.format('{"id":%d,', id) .. ARGV[i])
  if ARGV[i + 2] == '' then
    visible = visible + 1
  else
    redis.call('ZADD', KEYS[4], ARGV[i + 2], length - 1)
  end
  local created = tonumber(ARGV[i + 1])
  if created > latest then latest, newest = created, ARGV[i + 1] end
  ids[#ids + 1] = id
end
if visible > 0 then redis.call('HINCRBY', KEYS[2], 'count', visible) end
if newest then redis.call('HSET', KEYS[2], 'updated_at', newest) end
return ids
"""

# KEYS: names, thread, list; ARGV: name, tid, number of field/value pairs, the pairs, then the
# messages (whole JSON). 0 when the name is taken.
_CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local npairs = tonumber(ARGV[3])
local fields = {}
for i = 4, 3 + 2 * npairs do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
for i = 4 + 2 * npairs, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
return 1
"""

# KEYS: names, thread; ARGV: name, tid, then triples 'set'|'del', field, value.
_UPDATE = _VERIFY + """
for i = 3, #ARGV, 3 do
  if ARGV[i] == 'set' then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
  end
end
return 1
"""

# KEYS: names, thread, state; ARGV: old name, tid, new name. 0 when the new name is taken.
_RENAME = _VERIFY + """
if ARGV[1] == ARGV[3] then return 1 end
if redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'name', ARGV[3])
if redis.call('HGET', KEYS[3], 'last_thread') == ARGV[1] then
  redis.call('HSET', KEYS[3], 'last_thread', ARGV[3])
end
return 1
"""

# KEYS: names, thread, trash; ARGV: name, tid, now.
_DELETE = _VERIFY + """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'deleted_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""

# KEYS: names, thread, trash; ARGV: name, tid. The name it got back (suffixed when taken), or
# nil when the thread had already left the trash.
_RESTORE = """
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then return false end
local target, n = ARGV[1], 1
while redis.call('HEXISTS', KEYS[1], target) == 1 do
  target = ARGV[1] .. '-restored'
  if n > 1 then target = target .. '-' .. n end
  n = n + 1
end
redis.call('HSET', KEYS[1], target, ARGV[2])
redis.call('HSET', KEYS[2], 'name', target)
redis.call('HDEL', KEYS[2], 'deleted_at')
redis.call('ZREM', KEYS[3], ARGV[2])
return target
"""

# KEYS: thread, list, hidden; ARGV: change to the visible count, then per message its position,
# the SHA-1 of the item as read, the new item, hidden_at ('' when no longer hidden). 0, and
# nothing written, when an item changed since it was read.
_REWRITE = """
for i = 2, #ARGV, 4 do
  if redis.sha1hex(redis.call('LINDEX', KEYS[2], ARGV[i]) or '') ~= ARGV[i + 1] then return 0 end
end
for i = 2, #ARGV, 4 do
  redis.call('LSET', KEYS[2], ARGV[i], ARGV[i + 2])
  if ARGV[i + 3] == '' then
    redis.call('ZREM', KEYS[3], ARGV[i])
  else
    redis.call('ZADD', KEYS[3], ARGV[i + 3], ARGV[i])
  end
end
if tonumber(ARGV[1]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'count', ARGV[1]) end
return 1
"""

# KEYS: names, list; ARGV: name, tid, start, stop. {length, items start..stop}, read together.
_READ = _VERIFY + """
return {redis.call('LLEN', KEYS[2]), redis.call('LRANGE', KEYS[2], ARGV[3], ARGV[4])}
"""

# KEYS: names, list, hidden; ARGV: name, tid. Every hidden message.
_HIDDEN = _VERIFY + """
local items = {}
for i, position in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  items[i] = redis.call('LINDEX', KEYS[2], position)
end
return items
"""


# -- messages as JSON -----------------------------------------------------------------------------


def _body(m: Message, hidden_at: float | None) -> str:
    """The message as JSON without its opening ``{"id":N,`` (the id is given when it is stored).
    ASCII only, so any str survives; content last, after the short fields."""
    fields = {"role": m.role, "created_at": m.created_at, "model": m.model, "status": m.status,
              "prompt_tokens": m.usage.prompt_tokens,
              "completion_tokens": m.usage.completion_tokens, "covers": m.covers,
              "hidden": m.hidden, "hidden_at": hidden_at, "content": m.content}
    return json.dumps({k: v for k, v in fields.items() if v is not None},
                      separators=(",", ":"))[1:]


def _encode(message_id: int, m: Message, hidden_at: float | None) -> str:
    return f'{{"id":{message_id},' + _body(m, hidden_at)


def _decode(raw: str) -> tuple[Message, float | None]:
    """The message and when it was hidden."""
    d = json.loads(raw)
    usage = Usage(d.get("prompt_tokens"), d.get("completion_tokens"))
    return Message(d["role"], d["content"], d["created_at"], d.get("model"), d.get("status"),
                   usage, d["id"], d.get("hidden"), d.get("covers")), d.get("hidden_at")


def _message_id(raw: str) -> int:
    return int(raw[6:raw.index(",")])  # every item starts with {"id":N,


def _rewrites(found: dict[int, str], reason: str | None, now: float) -> list[str | int]:
    """The rewrite script's arguments to hide (or, with no ``reason``, unhide) the ``found``
    items, by position."""
    change = 0
    args: list[str | int] = []
    for position, raw in found.items():
        m, _ = _decode(raw)
        if reason is None and m.hidden is not None:
            change += 1
        elif reason is not None and m.hidden is None:
            change -= 1
        new = _encode(m.id or 0, replace(m, hidden=reason), None if reason is None else now)
        args += [position, hashlib.sha1(raw.encode()).hexdigest(), new,
                 "" if reason is None else repr(now)]
    return [change, *args]


def _visible_user(raw: str) -> bool:
    """Whether the stored item is a user message in the conversation, without decoding it: JSON
    escapes every quote inside a value, so '"role":"user"' and '"hidden":' can only be keys."""
    return '"role":"user"' in raw and '"hidden":' not in raw


_REASONS = [  # redis-py's wording of socket errors -> what went wrong
    re.compile(r"^Error -?\d+ connecting to \S+?\. (.*)"),
    re.compile(r"^Error -?\d+ while writing to socket\. (.*)"),
    re.compile(r"^Error while reading from .*? ?: \(-?\d+, '(.*)'\)"),
]


def _reason(text: str) -> str:
    """The gist of a redis-py error, on one line: 'Connection refused', not 'Error 111
    connecting to host:port. Connection refused.'"""
    for pattern in _REASONS:
        found = pattern.match(text)
        if found:
            text = found.group(1)
            break
    return " ".join(text.split()).rstrip(".")


def _info(h: dict[str, str]) -> ThreadInfo:
    deleted = h.get("deleted_at")
    return ThreadInfo(h["name"], h.get("model"), h.get("system"), float(h["created_at"]),
                      float(h["updated_at"]), int(h.get("count", 0)),
                      float(deleted) if deleted is not None else None)


def _may_match(raw: str, wanted: set[str]) -> bool:
    """A cheap test on the stored JSON that rules out most messages before decoding them."""
    if "\\u" in raw:  # non-ASCII content: fold the real text
        return all(w in words.fold(json.loads(raw)["content"]) for w in wanted)
    low = raw.lower()
    return all(w in low for w in wanted)


# -- the store ------------------------------------------------------------------------------------


class RedisStore:
    def __init__(self, url: str, *, namespace: str = "chatrepl", timeout: float = TIMEOUT,
                 clock: Callable[[], float] = time.time) -> None:
        # The password comes from the URL or REDIS_PASSWORD and is handed to redis-py only:
        # nothing here keeps it, and no message names more than host:port.
        extra: dict[str, Any] = {}
        if os.environ.get("REDIS_PASSWORD"):
            extra["password"] = os.environ["REDIS_PASSWORD"]  # the URL's own password wins
        try:
            self._r = redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # never retried behind our back: a write whose answer was lost must not be
                # written twice; the caller (BufferedStore) decides what to do again
                retry=Retry(NoBackoff(), 0), **extra)
        except ValueError as e:
            raise ConfigError(f"not a valid Redis store URL ({e})") from None
        kwargs = self._r.connection_pool.connection_kwargs
        self.where = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        self._clock = clock
        self._ns = namespace
        self._names = self._key("threads")
        self._tids: dict[str, str] = {}  # name -> thread id; every script checks it still holds
        self._append_script = self._r.register_script(_APPEND)
        self._create_script = self._r.register_script(_CREATE)
        self._update_script = self._r.register_script(_UPDATE)
        self._rename_script = self._r.register_script(_RENAME)
        self._delete_script = self._r.register_script(_DELETE)
        self._restore_script = self._r.register_script(_RESTORE)
        self._read_script = self._r.register_script(_READ)
        self._rewrite_script = self._r.register_script(_REWRITE)
        self._hidden_script = self._r.register_script(_HIDDEN)
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

    def _thread_keys(self, tid: str) -> tuple[str, str, str]:
        return self._key("thread", tid), self._key("messages", tid), self._key("hidden", tid)

    def _check_schema(self) -> None:
        with self._guard(), self._r.pipeline() as pipe:
            pipe.setnx(self._key("schema"), SCHEMA)
            pipe.get(self._key("schema"))
            version = int(pipe.execute()[1])
        if version > SCHEMA:
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
        reason = _reason(str(e)) or type(e).__name__
        secret = self._r.connection_pool.connection_kwargs.get("password")
        if secret:
            reason = reason.replace(str(secret), "***")
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
        for attempt in range(ATTEMPTS):
            tid = self._tid(name, fresh=attempt > 0)
            result = script(keys=[self._names, *keys(tid)], args=[name, tid, *args])
            if result != _MOVED:
                return result
        raise redis.exceptions.WatchError()

    # -- threads ----------------------------------------------------------------------------------

    def _infos(self, tids: Sequence[str]) -> list[ThreadInfo | None]:
        """The threads' metadata, in the order of ``tids`` (None for one that is gone)."""
        with self._r.pipeline(transaction=False) as pipe:
            for tid in tids:
                pipe.hgetall(self._key("thread", tid))
            hashes = cast(list[dict[str, str]], pipe.execute())
        return [_info(h) if "name" in h else None for h in hashes]

    def list_threads(self) -> list[ThreadInfo]:
        """Every live thread, most recently active first: two round trips whatever the count."""
        with self._guard():
            names = cast(dict[str, str], self._r.hgetall(self._names))
            tids = list(names.values())
            infos = [(info, int(tid)) for info, tid in zip(self._infos(tids), tids, strict=True)
                     if info and info.deleted_at is None and names.get(info.name) == tid]
        infos.sort(key=lambda p: (p[0].updated_at, p[1]), reverse=True)
        return [info for info, _ in infos]

    def get(self, name: str) -> ThreadInfo | None:
        with self._guard():
            for fresh in (False, True):
                try:
                    tid = self._tid(name, fresh=fresh)
                except ThreadError:
                    return None
                h = cast(dict[str, str], self._r.hgetall(self._key("thread", tid)))
                if h.get("name") == name and "deleted_at" not in h:
                    return _info(h)
        return None

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        now = self._clock()
        with self._guard():
            tid = str(self._r.incr(self._key("next_thread")))
            if not self._create(tid, name, now, model, system, []):
                raise ThreadError(f"a thread named {name!r} already exists")
        self._tids[name] = tid
        return ThreadInfo(name, model, system, now, now, 0)

    def _create(self, tid: str, name: str, now: float, model: str | None, system: str | None,
                items: list[str], *, updated: float | None = None,
                client: Any = None) -> Any:
        fields = {"name": name, "created_at": repr(now), "updated_at": repr(updated or now),
                  "count": str(len(items)), "model": model, "system": system}
        flat = [x for k, v in fields.items() if v is not None for x in (k, v)]
        thread, messages, _ = self._thread_keys(tid)
        return self._create_script(keys=[self._names, thread, messages],
                                   args=[name, tid, len(flat) // 2, *flat, *items], client=client)

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False) -> None:
        ops: list[str] = []
        if model is not None:
            ops += ["set", "model", model]
        if system is not None:
            ops += ["set", "system", system]
        elif clear_system:
            ops += ["del", "system", ""]
        with self._guard():
            self._call(self._update_script, name, lambda t: [self._key("thread", t)], ops)

    def rename(self, old: str, new: str) -> None:
        with self._guard():
            done = self._call(self._rename_script, old,
                              lambda t: [self._key("thread", t), self._key("state")], [new])
        if not done:
            raise ThreadError(f"a thread named {new!r} already exists")
        self._tids.pop(old, None)

    def delete(self, name: str) -> None:
        """Move the thread to the trash: its name is freed, its keys stay where they are."""
        with self._guard():
            self._call(self._delete_script, name,
                       lambda t: [self._key("thread", t), self._key("trash")],
                       [repr(self._clock())])
        self._tids.pop(name, None)

    def trash(self) -> list[ThreadInfo]:
        with self._guard():
            tids = cast(list[str], self._r.zrevrange(self._key("trash"), 0, -1))
            infos = self._infos(tids)
        return [i for i in infos if i and i.deleted_at is not None]

    def restore(self, name: str) -> str:
        """Bring back the most recently deleted thread called ``name``; returns its name now
        (``name``, or ``name-restored[-N]`` when a live thread has taken it)."""
        with self._guard():
            for _ in range(ATTEMPTS):
                tids = cast(list[str], self._r.zrevrange(self._key("trash"), 0, -1))
                tid = next((t for t, i in zip(tids, self._infos(tids), strict=True)
                            if i and i.name == name), None)
                if tid is None:
                    raise ThreadError(f"no thread named {name!r} in the trash (/trash lists it)")
                target = self._restore_script(
                    keys=[self._names, self._key("thread", tid), self._key("trash")],
                    args=[name, tid])
                if target is not None:
                    return str(target)
            raise redis.exceptions.WatchError()

    def fork(self, source: str, target: str, *, upto: int | None = None) -> ThreadInfo:
        """A new thread ``target`` with the conversation of ``source`` (up to message ``upto``),
        copied from one consistent reading of it (WATCH) and created in one step."""
        now = self._clock()
        with self._guard(), self._r.pipeline() as pipe:
            for _ in range(ATTEMPTS):
                try:
                    return self._fork(pipe, source, target, upto, now)
                except redis.exceptions.WatchError:
                    continue
            raise redis.exceptions.WatchError()

    def _fork(self, pipe: Any, source: str, target: str, upto: int | None,
              now: float) -> ThreadInfo:
        src = self._tid(source, fresh=True)
        thread, messages, _ = self._thread_keys(src)
        pipe.watch(thread, messages)
        meta = cast(dict[str, str], pipe.hgetall(thread))
        if meta.get("name") != source or "deleted_at" in meta:
            pipe.unwatch()
            raise redis.exceptions.WatchError()  # renamed or deleted meanwhile: look again
        kept = [m for m, _ in map(_decode, pipe.lrange(messages, 0, -1))
                if m.hidden is None and (not upto or (m.id or 0) <= upto)]
        first = int(pipe.incrby(self._key("next_message"), len(kept))) - len(kept) + 1
        ids = {m.id: first + i for i, m in enumerate(kept)}
        items = [_encode(first + i, replace(m, covers=ids.get(m.covers)), None)
                 for i, m in enumerate(kept)]
        tid = str(pipe.incr(self._key("next_thread")))
        updated = max([now, *(m.created_at for m in kept)])
        model, system = meta.get("model"), meta.get("system")
        pipe.multi()
        self._create(tid, target, now, model, system, items, updated=updated, client=pipe)
        if not pipe.execute()[0]:
            raise ThreadError(f"a thread named {target!r} already exists")
        self._tids[target] = tid
        return ThreadInfo(target, model, system, now, updated, len(kept))

    # -- messages ---------------------------------------------------------------------------------

    def append(self, name: str, message: Message) -> Message:
        """One round trip (two the first time a thread is used), whatever the thread's length:
        the new message is pushed, nothing else is read or rewritten."""
        message = replace(message, created_at=message.created_at or self._clock(), hidden=None,
                          id=None)
        [new_id] = self._append(name, [message])
        return replace(message, id=new_id)

    def append_many(self, name: str, messages: list[Message]) -> None:
        """Add many messages in one step (an import, a copy: hidden ones stay hidden)."""
        self._append(name, [replace(m, created_at=m.created_at or self._clock())
                            for m in messages])

    def _append(self, name: str, messages: list[Message]) -> list[int]:
        args: list[str] = []
        for m in messages:
            hidden_at = m.created_at if m.hidden else None
            args += [_body(m, hidden_at), repr(float(m.created_at)),
                     "" if hidden_at is None else repr(float(hidden_at))]
        with self._guard():
            ids = self._call(self._append_script, name,
                             lambda t: [*self._thread_keys(t), self._key("next_message")], args)
        return [int(i) for i in ids]

    def _read(self, name: str, start: int, stop: int) -> tuple[int, list[str]]:
        length, items = self._call(self._read_script, name,
                                   lambda t: [self._key("messages", t)], [start, stop])
        return int(length), list(items)

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]:
        """The conversation in order. With ``last``, only the tail is read (LRANGE): a little
        more than asked, and more again while hidden messages leave it short."""
        def keep(items: list[str]) -> list[Message]:
            decoded = (m for m, _ in map(_decode, items))
            return [m for m in decoded if hidden or m.hidden is None]

        with self._guard():
            if last is None:
                return keep(self._read(name, 0, -1)[1])
            if last <= 0:
                self._read(name, 1, 0)  # nothing to read, but the thread must exist
                return []
            chunk = last if hidden else last + 8
            length, items = self._read(name, -chunk, -1)
            found, start = keep(items), length - len(items)
            while len(found) < last and start > 0:
                chunk *= 2
                lo = max(0, start - chunk)
                found = keep(self._read(name, lo, start - 1)[1]) + found
                start = lo
        return found[-last:]

    def hide(self, name: str, ids: list[int], reason: str) -> None:
        """Take messages out of the conversation (kept, searchable); ``reason`` says why."""
        self._mark(name, ids, reason)

    def unhide(self, name: str, ids: list[int]) -> None:
        self._mark(name, ids, None)

    def _mark(self, name: str, ids: list[int], reason: str | None) -> None:
        """Rewrite the messages' list items, the hidden index and the count in one script that
        first checks the items are still the ones read (compare and set): appends never get in
        the way (positions do not move), a concurrent hide of the same messages makes it retry."""
        if not ids:
            return
        now = self._clock()
        with self._guard():
            thread, messages, hidden = self._thread_keys(self._tid(name, fresh=True))
            for _ in range(ATTEMPTS):
                found = self._locate(messages, set(ids))
                if not found or self._rewrite_script(keys=[thread, messages, hidden],
                                                     args=_rewrites(found, reason, now)):
                    return
            raise redis.exceptions.WatchError()

    def _locate(self, key: str, ids: set[int]) -> dict[int, str]:
        """Positions and items of ``ids``, read from the end (ids grow along the list, and the
        messages taken out are nearly always the last ones)."""
        found: dict[int, str] = {}
        end, chunk, lowest = int(self._r.llen(key)), 64, min(ids)
        while end > 0 and len(found) < len(ids):
            start = max(0, end - chunk)
            items = cast(list[str], self._r.lrange(key, start, end - 1))
            for offset, raw in enumerate(items):
                if _message_id(raw) in ids:
                    found[start + offset] = raw
            if items and _message_id(items[0]) <= lowest:
                break
            end, chunk = start, chunk * 2
        return found

    def last_hidden(self, name: str, reason: str) -> list[Message]:
        """The messages most recently hidden for ``reason`` (or a ``reason:detail``), together
        (one /undo, say). Reads only the hidden ones, through their index."""
        with self._guard():
            items = self._call(self._hidden_script, name,
                               lambda t: [self._key("messages", t), self._key("hidden", t)])
        group = [(m, at) for m, at in map(_decode, filter(None, items))
                 if m.hidden == reason or (m.hidden or "").startswith(reason + ":")]
        if not group:
            return []
        latest = max(at or 0.0 for _, at in group)
        return sorted((m for m, at in group if at == latest), key=lambda m: m.id or 0)

    # -- search -----------------------------------------------------------------------------------

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Messages of live threads containing every word of ``text`` (whole words, case and
        accents folded), most matches first, then newest.

        Plain Redis has no full-text index, so this reads every message of every live thread:
        its cost grows with everything stored (SCAN_BATCH messages a round trip; a cheap test on
        the raw JSON skips decoding most of them). Fine for one person's threads."""
        wanted = words.query(text)
        if not wanted:
            return []
        hits: list[tuple[int, Hit]] = []
        turns: dict[str, int] = {}  # user messages so far, as a long thread comes in pieces
        with self._guard():
            names = cast(dict[str, str], self._r.hgetall(self._names))
            for name, items in self._lists(names):
                found, turns[name] = self._hits(name, items, wanted, turns.get(name, 0))
                hits += found
        hits.sort(key=lambda h: (-h[0], -h[1].created_at, -h[1].message_id))
        return [hit for _, hit in hits[:limit]]

    def _lists(self, names: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
        """Each live thread's messages, SCAN_BATCH at a time per round trip."""
        order = list(names)
        with self._r.pipeline(transaction=False) as pipe:
            for name in order:
                pipe.llen(self._key("messages", names[name]))
            lengths = [int(n) for n in pipe.execute()]
            batch: list[tuple[str, int, int]] = []
            size = 0
            for name, length in zip(order, lengths, strict=True):
                for start in range(0, length, SCAN_BATCH):
                    batch.append((name, start, min(length, start + SCAN_BATCH) - 1))
                    size += min(SCAN_BATCH, length - start)
                    if size >= SCAN_BATCH:
                        yield from self._fetch(pipe, names, batch)
                        batch, size = [], 0
            yield from self._fetch(pipe, names, batch)

    def _fetch(self, pipe: Any, names: dict[str, str],
               batch: list[tuple[str, int, int]]) -> Iterator[tuple[str, list[str]]]:
        for name, start, stop in batch:
            pipe.lrange(self._key("messages", names[name]), start, stop)
        results = pipe.execute() if batch else []
        for (name, _, _), items in zip(batch, results, strict=True):
            yield name, items

    @staticmethod
    def _hits(name: str, items: list[str], wanted: set[str],
              turn: int) -> tuple[list[tuple[int, Hit]], int]:
        """The hits among a piece of one thread's messages, and the turn it ends in."""
        hits: list[tuple[int, Hit]] = []
        for raw in items:
            if _visible_user(raw):
                turn += 1
            if not _may_match(raw, wanted):
                continue
            m, _ = _decode(raw)
            found = words.matches(m.content, wanted)
            if found:
                spans, matched = found
                snippet = words.snippet(m.content, spans, matched)
                hits.append((len(matched), Hit(name, m.id or 0, m.role, snippet, max(turn, 1),
                                               m.created_at, m.hidden)))
        return hits, turn

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

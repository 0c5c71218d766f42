"""Lossless threads: every store keeps the whole API message (parts, tool calls, names, unknown
keys, reasoning), opens what today's schema wrote with nothing lost, and --copy-store and the
never-lose buffer keep it all."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import redis
from stores import BACKENDS, WHOLE, redis_url

from repl.errors import StoreError
from repl.store import migrations
from repl.store.buffered import BufferedStore
from repl.store.copy import copy_store
from repl.store.jsonfiles import JSONStore
from repl.store.redis import RedisStore
from repl.store.sqlite import SQLiteStore
from repl.thread import Message

OLD = [("user", "q", None), ("assistant", "a", "replaced"), ("assistant", "a2", None)]


def _kept(messages: list[Message]) -> list[tuple[str, str, str | None]]:
    return [(m.role, m.content, m.hidden) for m in messages]


def _whole_after_old(store: object) -> None:
    """The old thread reads back as it was; whole messages added to it read back whole."""
    assert isinstance(store, SQLiteStore | JSONStore | RedisStore)
    old = store.messages("old", hidden=True)
    assert _kept(old) == OLD
    assert all(m.parts is None and m.fields == {} and m.reasoning is None for m in old)
    assert [m.for_api() for m in old] == [{"role": r, "content": c} for r, c, _ in OLD]
    store.append_many("old", WHOLE)
    back = store.messages("old")[2:]
    assert [(m.content, m.parts, m.fields, m.reasoning) for m in back] == [
        (m.content, m.parts, m.fields, m.reasoning) for m in WHOLE]


def test_sqlite_store_of_todays_schema_opens_with_nothing_lost(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    path = tmp_path / "x" / "chatrepl.db"
    path.parent.mkdir()
    db = sqlite3.connect(path, isolation_level=None)
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])  # as released before
        migrations.apply(db)
    db.execute("INSERT INTO threads (name, created_at, updated_at) VALUES ('old', 1, 2)")
    db.executemany("INSERT INTO messages (thread_id, role, content, created_at, hidden, uid)"
                   " VALUES (1, ?, ?, ?, ?, ?)",
                   [(r, c, 1.0 + i, h, f"u{i}") for i, (r, c, h) in enumerate(OLD)])
    db.close()
    s = SQLiteStore(path)
    _whole_after_old(s)
    assert s.search("gist") == [] and s.search("a2")[0].thread == "old"
    s.close()
    s = SQLiteStore(path)  # and again, after the migration
    assert _kept(s.messages("old", hidden=True)[:3]) == OLD
    s.close()


def test_json_file_of_todays_format_opens_with_nothing_lost(tmp_path: Path) -> None:
    folder = tmp_path / "threads"
    folder.mkdir()
    old = {"name": "old", "model": None, "system": None, "created_at": 1.0, "updated_at": 2.0,
           "deleted_at": None, "format": 1, "messages": [
               {"role": r, "content": c, "created_at": 1.0 + i, "id": i + 1, "uid": f"u{i}",
                **({"hidden": h, "hidden_at": 3.0} if h else {})}
               for i, (r, c, h) in enumerate(OLD)]}
    (folder / "old.json").write_text(json.dumps(old))
    s = JSONStore(folder)
    _whole_after_old(s)
    doc = json.loads((folder / "old.json").read_text())
    assert doc["format"] == 2  # an older chatrepl refuses it rather than call it damaged
    assert doc["messages"][3]["content"] == [dict(p) for p in WHOLE[0].parts or ()]
    s.close()


def test_redis_keys_of_todays_layout_open_with_nothing_lost(tmp_path: Path) -> None:
    ns = f"test:{tmp_path}"
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    client.set(f"{ns}:schema", 1)
    client.hset(f"{ns}:threads", "old", "1")
    client.hset(f"{ns}:thread:1", mapping={"name": "old", "created_at": "1.0",
                                           "updated_at": "2.0", "count": "2"})
    client.rpush(f"{ns}:messages:1", *[
        json.dumps({"id": i + 1, "role": r, "created_at": 1.0 + i, "uid": f"u{i}",
                    **({"hidden": h, "hidden_at": 3.0} if h else {}), "content": c},
                   separators=(",", ":")) for i, (r, c, h) in enumerate(OLD)])
    client.zadd(f"{ns}:hidden:1", {"1": 3.0})
    client.hset(f"{ns}:uids:1", mapping={f"u{i}": i for i in range(3)})
    client.set(f"{ns}:next_message", 3)
    client.set(f"{ns}:next_thread", 1)
    s = RedisStore(redis_url(), namespace=ns)
    _whole_after_old(s)
    assert client.get(f"{ns}:schema") == "2"  # an older chatrepl refuses to rewrite it
    s.close()
    client.set(f"{ns}:schema", 3)
    with pytest.raises(StoreError, match="newer chatrepl"):
        RedisStore(redis_url(), namespace=ns)
    client.close()


PAIRS = [(a, b) for a in sorted(BACKENDS) for b in sorted(BACKENDS) if a != b]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_copy_store_keeps_whole_messages(tmp_path: Path, a: str, b: str) -> None:
    source, target = BACKENDS[a](tmp_path / "from"), BACKENDS[b](tmp_path / "to")
    source.create("w")
    source.append_many("w", WHOLE)
    copy_store(source, target)
    assert [m.for_api() for m in target.messages("w")] == [m.for_api() for m in WHOLE]
    assert [m.reasoning for m in target.messages("w")] == [m.reasoning for m in WHOLE]
    source.close()
    target.close()


class _Full(JSONStore):
    """A store whose disk is full until ``full`` is set False."""

    full = True

    def append(self, name: str, message: Message) -> Message:
        if self.full:
            raise StoreError("disk full")
        return super().append(name, message)


def test_the_buffer_keeps_whole_messages_until_they_are_saved(tmp_path: Path) -> None:
    inner = _Full(tmp_path / "threads")
    s = BufferedStore(inner)
    s.create("w")
    for m in WHOLE:
        with pytest.raises(StoreError):
            s.append("w", m)
    assert [m.for_api() for m in s.messages("w")] == [m.for_api() for m in WHOLE]
    rescued = s.rescue()
    assert rescued is not None
    saved = json.loads(rescued.read_text())
    assert saved[0]["parts"] == [dict(p) for p in WHOLE[0].parts or ()]
    assert saved[1]["fields"] == dict(WHOLE[1].fields) and saved[1]["reasoning"]
    rescued.unlink()
    inner.full = False
    s.flush()
    back = inner.messages("w")
    assert [(m.for_api(), m.reasoning) for m in back] == [(m.for_api(), m.reasoning)
                                                         for m in WHOLE]
    s.close()

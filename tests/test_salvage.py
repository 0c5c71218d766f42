"""Salvage off the pages: a damaged store gives back every row left on an intact table page,
however much of its header, schema, indexes or interior pages is lost, in one pass over its
pages (never a guessed range of ids); its WAL's committed frames count, erased rows stay erased.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from repl.store import recover, sqlfile
from repl.store.sqlite import SQLiteStore
from repl.thread import Message

PAGE = 4096  # the SQLite store's page size


def build(path: Path, threads: int = 3, messages: int = 300) -> None:
    store = SQLiteStore(path)
    for t in range(threads):
        store.create(f"t{t}")
        store.append_many(f"t{t}", [Message("user", f"message {t}-{i} " + "x" * 200)
                                    for i in range(messages)])
    store.close()


def pages_of(path: Path, kind: str, *names: str) -> dict[int, int]:
    """Page number -> cells on it, of the b-tree pages of ``kind`` (leaf, internal) of the
    tables or indexes ``names``, as SQLite's dbstat sees them in the intact file."""
    db = sqlite3.connect(path)
    marks = ", ".join("?" * len(names))
    rows = db.execute(f"SELECT pageno, ncell FROM dbstat WHERE name IN ({marks})"
                      " AND pagetype = ?", (*names, kind)).fetchall()
    db.close()
    return dict(rows)


def index_pages(path: Path) -> list[int]:
    db = sqlite3.connect(path)
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    db.close()
    return [*pages_of(path, "leaf", *names), *pages_of(path, "internal", *names)]


def overwrite(path: Path, pages: list[int], fill: bytes = b"\x00") -> None:
    data = bytearray(path.read_bytes())
    for number in pages:
        data[(number - 1) * PAGE:number * PAGE] = fill * PAGE
    path.write_bytes(bytes(data))


def reopen(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    assert store.recovered is not None
    assert any(".damaged-" in p.name for p in path.parent.iterdir())  # kept, never deleted
    return store


def test_the_issue_s_store_half_kept_gives_back_its_three_messages(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    store = SQLiteStore(path)
    store.create("t")
    for i in range(3):
        store.append("t", Message("user", f"hello {i}"))
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])  # the schema now names root pages past the end
    store = reopen(path)
    assert (store.recovered.threads, store.recovered.messages) == (1, 3)
    assert [m.content for m in store.messages("t")] == ["hello 0", "hello 1", "hello 2"]
    store.close()


def test_a_truncated_store_gives_back_every_whole_leaf_page_left(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    build(path)
    kept = path.stat().st_size // PAGE // 2
    left = sum(n for page, n in pages_of(path, "leaf", "messages").items() if page <= kept)
    path.write_bytes(path.read_bytes()[:kept * PAGE])
    store = reopen(path)
    assert (store.recovered.threads, store.recovered.messages) == (3, left)
    store.close()


def test_a_lost_header_and_schema_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    build(path)
    overwrite(path, [1])  # the header (page size, freelist) and the schema: zeros
    store = reopen(path)
    assert (store.recovered.threads, store.recovered.messages) == (3, 900)
    assert [len(store.messages(f"t{t}")) for t in range(3)] == [300, 300, 300]
    assert store.search("message 2-299")  # the full-text index is made anew
    store.close()


def test_messages_whose_thread_page_is_lost_get_a_thread_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    build(path)
    overwrite(path, [1, *pages_of(path, "leaf", "threads")])
    store = reopen(path)
    assert (store.recovered.threads, store.recovered.messages) == (3, 900)
    assert sorted(info.name for info in store.list_threads()) == [
        "recovered-1", "recovered-2", "recovered-3"]
    store.close()


def test_damaged_schema_indexes_and_interior_pages_cost_only_the_leaf_lost(
        tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    build(path)
    leaves = pages_of(path, "leaf", "messages")
    lost = sorted(leaves)[len(leaves) // 2]
    overwrite(path, [1, *index_pages(path), *pages_of(path, "internal", "messages")],
              fill=b"\xa5")
    overwrite(path, [lost], fill=b"\x5a")
    store = reopen(path)
    assert (store.recovered.threads, store.recovered.messages) == (3, 900 - leaves[lost])
    store.close()


def test_attachments_come_back_with_their_messages(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    raw = b"\x89PNG\r\n\x1a\n" + os.urandom(30_000)  # on a chain of overflow pages
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    store = SQLiteStore(path)
    store.create("t")
    store.append("t", Message("user", "look", parts=(
        {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}})))
    store.close()
    overwrite(path, [1])
    store = reopen(path)
    (message,) = store.messages("t")
    (payload,) = store.expand([message.for_api()])
    assert payload["content"][1]["image_url"]["url"] == url
    store.close()


def wal_store(path: Path) -> sqlite3.Connection:
    """A database whose commits stay in its WAL (no checkpoint) while the connection is open."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT)")
    return db


def copied(path: Path, to: Path) -> Path:
    """The database and its WAL as a crash would leave them."""
    to.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(path.with_name(path.name + suffix), to / (path.name + suffix))
    return to / path.name


def rows(path: Path) -> set[tuple[object, ...]]:
    return {(c.rowid, *c.values[1:]) for c in sqlfile.cells(path) if len(c.values) == 2}


def test_the_wal_s_committed_transactions_count_and_a_torn_one_does_not(
        tmp_path: Path) -> None:
    db = wal_store(tmp_path / "a.db")
    db.execute("INSERT INTO t (text) VALUES ('first')")
    db.execute("BEGIN")
    db.executemany("INSERT INTO t (text) VALUES (?)", [(f"row {i}",) for i in range(50)])
    db.execute("COMMIT")
    db.execute("INSERT INTO t (text) VALUES ('last')")
    whole = copied(tmp_path / "a.db", tmp_path / "whole")
    db.close()
    assert rows(whole) == set(sqlite3.connect(whole).execute("SELECT id, text FROM t"))
    assert len(rows(whole)) == 52
    wal = whole.with_name(whole.name + "-wal")
    torn = copied(whole, tmp_path / "torn")
    torn.with_name(torn.name + "-wal").write_bytes(wal.read_bytes()[:-100])
    assert rows(torn) == set(sqlite3.connect(torn).execute("SELECT id, text FROM t"))
    assert (52, "last") not in rows(torn) and (1, "first") in rows(torn)


def test_rows_on_the_freelist_stay_deleted(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA secure_delete = OFF")  # a file chatrepl did not write: pages kept
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT)")
    with db:
        db.executemany("INSERT INTO t (text) VALUES (?)", [(f"row {i} " + "x" * 300,)
                                                            for i in range(200)])
    with db:
        db.execute("DELETE FROM t WHERE id > 10")
    db.close()
    assert b"row 150 " in path.read_bytes()  # the freed pages still hold the deleted rows
    assert sorted(rowid for rowid, _ in rows(path)) == list(range(1, 11))


@pytest.mark.parametrize("size", [1024, 8192])
def test_the_page_size_is_found_when_the_header_is_lost(tmp_path: Path, size: int) -> None:
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA page_size = {size}")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT)")
    with db:
        db.executemany("INSERT INTO t (text) VALUES (?)", [(f"row {i} " + "y" * 100,)
                                                            for i in range(500)])
    db.close()
    data = bytearray(path.read_bytes())
    data[:size] = bytes(size)
    path.write_bytes(bytes(data))
    assert len(rows(path)) == 500


def test_the_page_size_is_found_when_an_attachment_fills_the_first_pages(
        tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT, data BLOB)")
    with db:
        db.execute("INSERT INTO t (data) VALUES (?)", (os.urandom(1 << 20),))  # overflow pages
        db.executemany("INSERT INTO t (text) VALUES (?)", [(f"row {i} " + "z" * 400,)
                                                            for i in range(8000)])
    db.close()
    overwrite(path, [1])
    assert len([c for c in sqlfile.cells(path) if c.values[1] is not None]) == 8000


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("source") / "chatrepl.db"
    build(path, threads=2, messages=60)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 40 * PAGE), st.integers(1, 3 * PAGE),
                          st.sampled_from([b"\x00", b"\xff", b"\x0d", b"\x81"])),
                min_size=1, max_size=6))
def test_any_damage_gives_rows_or_nothing_never_an_error(
        small_store: Path, damage: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(small_store.read_bytes())
    for at, length, fill in damage:
        data[at:at + length] = fill * len(data[at:at + length])
    path = small_store.with_name("damaged.db")
    path.write_bytes(bytes(data))
    assert all(cell.page >= 1 for cell in sqlfile.cells(path))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(damage=[(118, 199, b"\xff")])  # the schema page's header: SQLite's NOMEM on open
@example(damage=[(1432, 1, b"\xff")])  # a byte of "model" in the schema's text: a column lost
@given(st.lists(st.tuples(st.integers(100, 40 * PAGE), st.integers(1, 3 * PAGE),
                          st.sampled_from([b"\x00", b"\xff", b"\x0d", b"\x81"])),
                min_size=1, max_size=6))
def test_any_damage_opens_a_store_with_at_most_what_was_there(
        small_store: Path, tmp_path_factory: pytest.TempPathFactory,
        damage: list[tuple[int, int, bytes]]) -> None:
    # (a garbage schema format number is SQLite's "unsupported file format", which may be a
    # newer SQLite's file rather than damage: chatrepl then refuses to open it, untouched)
    data = bytearray(small_store.read_bytes())
    for at, length, fill in damage:
        data[at:at + length] = fill * len(data[at:at + length])
    path = tmp_path_factory.mktemp("damaged") / "chatrepl.db"
    path.write_bytes(bytes(data))
    recover.marker(path).touch()  # as a failed read leaves it: the open checks the file
    store = SQLiteStore(path)
    threads = store.list_threads()
    assert len(threads) <= 2 and sum(info.message_count for info in threads) <= 120
    store.close()

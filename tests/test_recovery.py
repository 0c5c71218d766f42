"""A damaged store never costs what can still be read, never silently starts empty, and the
damaged file is always kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fakeserver import FakeOpenAI

from repl.errors import StoreError
from repl.store import recover
from repl.store.sqlite import SQLiteStore
from repl.thread import Message, Usage
from repl.thread_settings import ThreadSettings


def build(path: Path, threads: int = 3, messages: int = 300) -> None:
    store = SQLiteStore(path)
    for t in range(threads):
        store.create(f"t{t}")
        for i in range(messages):
            store.append(f"t{t}", Message("user", f"message {t}-{i} " + "x" * 200))
    store.close()


def damaged_copies(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if ".damaged-" in p.name
                  and not p.name.endswith(("-wal", "-shm")))


def test_garbage_file_is_kept_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    store = SQLiteStore(path)
    assert store.recovered is not None
    assert "not a database" in store.recovered.reason
    assert damaged_copies(path)[0].read_bytes() == garbage  # kept exactly as found
    assert store.list_threads() == []
    store.create("new")  # and the new store works
    store.close()
    assert str(path) in store.recovered.describe()


def test_truncated_file_gives_back_what_survives(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    build(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    store = SQLiteStore(path)
    assert store.recovered is not None
    assert store.recovered.threads == 3
    assert 300 <= store.recovered.messages < 900
    for info in store.list_threads():
        for message in store.messages(info.name):
            assert message.content.startswith(f"message {info.name[1:]}-")
    assert damaged_copies(path)[0].read_bytes() == data[: len(data) * 6 // 10]


def test_damage_found_mid_session_is_repaired_at_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    build(path)
    data = bytearray(path.read_bytes())
    page = data.index(b"message 1-150 ") // 4096 * 4096  # a page of the messages table
    data[page:page + 4096] = os.urandom(4096)  # garbage over it
    path.write_bytes(bytes(data))
    store = SQLiteStore(path)  # the header looks fine: no full check on a normal start
    errors = []
    try:
        for info in store.list_threads():
            store.messages(info.name)
    except StoreError as e:  # a clear error, never a raw sqlite3 one
        errors.append(str(e))
    store.close()
    assert errors and "restart chatrepl" in errors[0]
    store = SQLiteStore(path)
    assert store.recovered is not None and "integrity" in store.recovered.reason
    assert store.recovered.messages > 800  # only the rows on the damaged page are gone
    store.close()


def test_chatrepl_says_what_happened_and_goes_on(api_env: dict[str, str], server: FakeOpenAI,
                                                 data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "chatrepl.db").write_bytes(b"\x00garbage" * 1000)
    done = subprocess.run([sys.executable, "-m", "repl", "-t", "t", "hello"], env=api_env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "echo: hello" in done.stdout
    assert "Traceback" not in done.stderr
    assert str(data_dir / "chatrepl.db") in done.stderr and ".damaged-" in done.stderr
    assert len(damaged_copies(data_dir / "chatrepl.db")) == 1


def test_the_warning_names_the_database_that_was_opened(api_env: dict[str, str],
                                                        data_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "other.db"
    other.parent.mkdir()
    other.write_bytes(b"\x00garbage" * 1000)
    done = subprocess.run([sys.executable, "-m", "repl", "--store", f"sqlite://{other}",
                           "--list"], env={**api_env, "COLUMNS": "300"}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert f"the thread store {other} was damaged" in said
    assert str(data_dir / "chatrepl.db") not in said


def damage_an_index(path: Path) -> None:
    """Garbage over the root page of the messages_by_thread index, and the marker a failed read
    leaves, so the next open checks the file and recovers it."""
    import sqlite3

    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages_by_thread'"
                         ).fetchone()
    (size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * size:root * size] = b"\xa5" * size
    path.write_bytes(bytes(data))
    recover.marker(path).touch()


def test_every_column_of_every_migration_is_recovered(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    store = SQLiteStore(path)
    store.create("t")
    store.update("t", settings=ThreadSettings.of({"temperature": 0.5}))
    store.append("t", Message("assistant", "hi", meta={"response_id": "r1"},
                              usage=Usage(10, 5, cached_tokens=4, reasoning_tokens=2)))
    store.close()
    damage_an_index(path)
    store = SQLiteStore(path)
    assert store.recovered is not None and store.recovered.messages == 1
    info = store.get("t")
    assert info is not None and info.settings.stored() == {"temperature": 0.5}
    (message,) = store.messages("t")
    assert message.meta == {"response_id": "r1"}
    assert message.usage == Usage(10, 5, cached_tokens=4, reasoning_tokens=2)
    store.close()


def test_list_on_a_half_kept_store_lists_what_was_on_its_intact_pages(
        api_env: dict[str, str], data_dir: Path) -> None:
    path = data_dir / "chatrepl.db"
    build(path, threads=1, messages=3)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    done = subprocess.run([sys.executable, "-m", "repl", "--list"],
                          env={**api_env, "COLUMNS": "300"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 thread with 3 messages were recovered" in " ".join(done.stderr.split())
    assert "t0" in done.stdout


def test_a_schema_whose_text_is_not_utf8_is_damage_and_loses_no_row(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    build(path, threads=2, messages=50)
    data = bytearray(path.read_bytes())
    data[data.index(b"CREATE TABLE threads") + 7] = 0xFF  # SQLite's own error quotes it
    path.write_bytes(bytes(data))
    recover.marker(path).touch()
    store = SQLiteStore(path)
    assert store.recovered is not None and "not UTF-8" in store.recovered.reason
    assert (store.recovered.threads, store.recovered.messages) == (2, 100)
    store.close()

"""What only the JSON-files store promises: readable files, safe names, atomic locked writes.

The ThreadStore contract itself runs in test_store.py (the "json" backend).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
import unicodedata
from pathlib import Path

import pytest
from stores import thread_file, two_processes_append

from repl.errors import StoreBusyError, StoreError, ThreadError, UnsavedError
from repl.store import jsonfiles
from repl.store.buffered import BufferedStore
from repl.store.jsonfiles import JSONStore, file_name
from repl.store.jsonfiles.names import STATE
from repl.thread import SUMMARY, Message, Usage
from repl.thread_settings import ThreadSettings

ROOT = Path(__file__).resolve().parent.parent


def _store(tmp_path: Path) -> JSONStore:
    return JSONStore(tmp_path / "threads")


def _stray(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(jsonfiles.TMP_PREFIX))


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _run(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# -- the file -------------------------------------------------------------------------------------


def test_a_thread_is_one_readable_json_lines_file(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("work", model="gpt-x", system="be brief")
    s.append("work", Message("user", "Café? ✓ 日本", created_at=1_700_000_000.5))
    b = s.append("work", Message("assistant", "two\nlines", model="gpt-x", usage=Usage(9, 3)))
    assert b.id is not None
    s.hide("work", [b.id], "replaced")
    s.set_state("last_thread", "work")

    text = (tmp_path / "threads" / "work.json").read_text(encoding="utf-8")
    assert "Café? ✓ 日本" in text  # UTF-8 as it is, not \u escapes
    head, first, second = map(json.loads, text.splitlines())  # one line each, \n escaped
    assert list(head)[:8] == ["format", "rev", "name", "model", "system", "created_at",
                              "updated_at", "deleted_at"]
    assert head["format"] == 3 and head["deleted_at"] is None and head["system"] == "be brief"
    # reads like an OpenAI messages array: role and content first, then only what is set
    assert list(first) == ["role", "content", "created_at", "id", "parent", "uid"]
    assert first == {"role": "user", "content": "Café? ✓ 日本", "created_at": 1_700_000_000.5,
                     "id": 1, "parent": 0, "uid": first["uid"]}  # the first: after none
    assert second["parent"] == 1
    assert len(first["uid"]) == 32 and first["uid"] != second["uid"]
    assert list(second)[:2] == ["role", "content"]
    assert second["usage"] == {"prompt_tokens": 9, "completion_tokens": 3}
    assert second["hidden"] == "replaced" and second["hidden_at"] >= second["created_at"]
    assert "status" not in second and "covers" not in second
    assert json.loads((tmp_path / "threads" / "state.json").read_text()) == {
        "last_thread": "work"}


def test_settings_meta_and_every_token_count_are_lines_read_back_by_another_store(
        tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("t")
    s.update("t", settings=ThreadSettings.of({"temperature": 0.2, "effort": "low"}))
    meta = {"api": "responses", "response_id": "resp_1", "output": [{"type": "message"}]}
    s.append("t", Message("user", "q"))
    s.append("t", Message("assistant", "a", usage=Usage(10, 5, 4, 2), meta=meta))
    head, _, answer = map(json.loads, (tmp_path / "threads" / "t.json").read_text().splitlines())
    assert head["settings"] == {"temperature": 0.2, "effort": "low"}
    assert answer["meta"] == meta and answer["usage"] == {
        "prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 4, "reasoning_tokens": 2}
    other = _store(tmp_path)
    info = other.get("t")
    assert info is not None and info.settings.stored() == {"temperature": 0.2, "effort": "low"}
    [_, back] = other.messages("t")
    assert (back.meta, back.usage) == (meta, Usage(10, 5, 4, 2))


def test_a_save_appends_one_line_and_a_torn_last_line_is_set_aside(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("t")
    s.append("t", Message("user", "q1"))
    path = tmp_path / "threads" / "t.json"
    before = path.read_bytes()
    s.append("t", Message("assistant", "a1"))
    after = path.read_bytes()
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1  # appended
    with path.open("ab") as f:  # a write a kill cut short: no newline, half a message
        f.write(b'{"role": "user", "content": "half a que')
    other = _store(tmp_path)  # another process reads meanwhile: the half line is not a message
    assert [m.content for m in other.messages("t")] == ["q1", "a1"]
    assert [m.content for m in s.messages("t")] == ["q1", "a1"]
    s.append("t", Message("user", "q2"))
    assert [m.content for m in other.messages("t")] == ["q1", "a1", "q2"]
    [aside] = (tmp_path / "threads").glob("t.json.torn-*")
    assert aside.read_bytes() == b'{"role": "user", "content": "half a que'  # kept, not lost
    assert _mode(aside) == 0o600
    assert path.read_bytes().endswith(b"\n") and b"half a que" not in path.read_bytes()


def test_a_damaged_line_in_the_middle_is_quarantined_not_dropped(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("t")
    for text in ("q1", "a1", "q2"):
        s.append("t", Message("user", text))
    path = tmp_path / "threads" / "t.json"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([lines[0], lines[1], b"not json\n", *lines[2:]]))
    with pytest.raises(StoreError, match="damaged"):
        _store(tmp_path).messages("t")
    [aside] = (tmp_path / "threads").glob("t.json.damaged-*")
    assert b"not json" in aside.read_bytes() and b"q2" in aside.read_bytes()


def test_a_format_2_store_is_migrated_on_open_with_nothing_lost(tmp_path: Path) -> None:
    """tests/fixtures/jsonstore-format2 was written by the store before it wrote lines."""
    folder = tmp_path / "threads"
    shutil.copytree(Path(__file__).parent / "fixtures" / "jsonstore-format2", folder)
    old = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != STATE}
    old_trash = [json.loads(p.read_text()) for p in (folder / "trash").glob("*.json")]
    s = JSONStore(folder)
    for name, doc in old.items():
        head, *messages = map(json.loads, (folder / name).read_text().splitlines())
        assert head["format"] == 3 and messages == doc["messages"]  # every key, as it was
        info = s.get(doc["name"])
        assert info is not None and (info.model, info.system, info.settings.stored()) == (
            doc["model"], doc["system"], doc.get("settings", {}))
        kept = s.messages(doc["name"], hidden=True)
        assert [m.uid for m in kept] == [m["uid"] for m in doc["messages"]]
    same = [m for m in s.messages("whole") if m.meta]
    assert [m.meta["response_id"] for m in same] == ["resp_1"]
    assert [i.name for i in s.trash()] == [d["name"] for d in old_trash]
    pics = s.messages("pics")
    [expanded] = s.expand([dict(pics[0].for_api())])
    assert expanded["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert s.get_state("last_thread") == "pics"
    s.append("pics", Message("user", "after the migration"))
    assert [m.content for m in JSONStore(folder).messages("pics")][-1] == "after the migration"


def test_a_file_written_before_uids_opens_with_nothing_lost(tmp_path: Path) -> None:
    folder = tmp_path / "threads"
    folder.mkdir()
    old = {"name": "old", "model": None, "system": None, "created_at": 1.0, "updated_at": 2.0,
           "deleted_at": None, "format": 1, "messages": [
               {"role": "user", "content": "q", "created_at": 1.0, "id": 1},
               {"role": "assistant", "content": "a", "created_at": 1.5, "id": 2,
                "hidden": "replaced", "hidden_at": 1.6},
               {"role": "summary", "content": "gist", "created_at": 1.7, "id": 3, "covers": 1}]}
    (folder / "old.json").write_text(json.dumps(old))
    s = JSONStore(folder)
    kept = s.messages("old", hidden=True)
    assert [(m.id, m.role, m.content, m.hidden, m.covers) for m in kept] == [
        (1, "user", "q", None, None), (2, "assistant", "a", "replaced", None),
        (3, "summary", "gist", None, 1)]
    s.append("old", Message("user", "new"))  # the next write fills the uids in, for good
    doc = thread_file(folder / "old.json")
    assert all(isinstance(m["uid"], str) for m in doc["messages"])
    now = s.messages("old", hidden=True)
    assert [m.content for m in now] == ["q", "a", "gist", "new"]
    assert s.messages("old", hidden=True) == now
    s.append("old", now[0])  # and an old message sent again adds nothing
    assert len(s.messages("old", hidden=True)) == 4


def test_keys_added_by_hand_are_kept(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("t")
    m = s.append("t", Message("user", "q"))
    path = tmp_path / "threads" / "t.json"
    doc = thread_file(path)
    doc["tags"] = ["mine"]
    doc["messages"][0]["note"] = "keep"
    path.write_text(json.dumps(doc))
    assert m.id is not None
    s.hide("t", [m.id], "undone")
    s.append("t", Message("assistant", "a"))
    doc = thread_file(path)
    assert doc["tags"] == ["mine"] and doc["messages"][0]["note"] == "keep"


def test_lone_surrogates_survive(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("t")
    s.append("t", Message("assistant", "half a pair: \ud83d!"))
    assert s.messages("t")[0].content == "half a pair: \ud83d!"
    assert (tmp_path / "threads" / "t.json").read_bytes().isascii()  # escaped, still valid


def test_delete_moves_the_file_to_trash_and_restore_moves_it_back(tmp_path: Path) -> None:
    s = _store(tmp_path)
    folder = tmp_path / "threads"
    s.create("t")
    s.append("t", Message("user", "hello"))
    s.delete("t")
    assert not (folder / "t.json").exists()
    [trashed] = (folder / "trash").iterdir()
    doc = thread_file(trashed)
    assert doc["name"] == "t" and doc["deleted_at"] and doc["messages"][0]["content"] == "hello"
    s.create("t")
    assert s.restore("t") == "t-restored"
    assert list((folder / "trash").iterdir()) == []
    doc = thread_file(folder / "t-restored.json")
    assert doc["name"] == "t-restored" and doc["deleted_at"] is None


def test_copies_under_other_file_names_are_left_alone(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("work")
    s.append("work", Message("user", "apples"))
    folder = tmp_path / "threads"
    raw = (folder / "work.json").read_bytes()
    (folder / "work (conflicted copy).json").write_bytes(raw)  # what a sync tool leaves
    assert [t.name for t in s.list_threads()] == ["work"]
    assert [h.thread for h in s.search("apples")] == ["work"]


# -- names ----------------------------------------------------------------------------------------

NAMES = ["a/b", "../escape", "..", ".", "/abs", "a\\b", "..\\up", "日本語", "café",
         "cafe\u0301", "Work", "work", "WORK", "ß", "ss", "SS", "ı", "i", "with spaces", "state",
         "-dash", "~", "%41", "A", "a", "x" * 300, "X" * 300, "emoji 🧵", "nul\x00", "",
         "CON", "a.json", "trash"]


def test_names_map_to_distinct_safe_files_inside_the_directory(tmp_path: Path) -> None:
    box = tmp_path / "box"
    s = _store(box)
    folder = box / "threads"
    for name in NAMES:
        s.create(name)
        s.append(name, Message("user", f"content of {name!r}"))
    assert [p.name for p in box.iterdir()] == ["threads"]  # nothing outside
    assert not any(p.is_dir() for p in folder.iterdir())  # nothing beneath
    files = [p for p in folder.iterdir() if p.suffix == ".json" and p.name != "state.json"]
    assert len(files) == len(NAMES)
    for p in files:
        assert p.parent == folder and p.is_file() and not p.name.startswith(".")
        assert "/" not in p.name and "\\" not in p.name
        assert len(p.name.encode()) < 200
    # distinct on case- and normalization-insensitive file systems too (macOS, Windows)
    for fold in (str.casefold, str.upper):
        assert len({unicodedata.normalize("NFD", fold(p.name)) for p in files}) == len(NAMES)
    assert sorted(t.name for t in s.list_threads()) == sorted(NAMES)
    for name in NAMES:
        assert [m.content for m in s.messages(name)] == [f"content of {name!r}"]
    s.close()
    reopened = _store(box)
    assert sorted(t.name for t in reopened.list_threads()) == sorted(NAMES)


def test_file_names_stay_readable() -> None:
    assert file_name("work") == "work.json"
    assert file_name("with spaces") == "with spaces.json"
    assert file_name("日本語") == "日本語.json"
    assert file_name("a/b") == "a%2Fb.json"
    assert file_name("..") == "%2E..json"
    assert file_name("state") == "%73tate.json"
    assert file_name("Work").startswith("Work~") and file_name("Work") != file_name("WORK")


# -- concurrency and crashes ----------------------------------------------------------------------

@pytest.mark.slow
def test_two_processes_append_to_one_thread_and_lose_nothing(tmp_path: Path) -> None:
    messages = two_processes_append("json", tmp_path)
    assert [m.id for m in messages] == list(range(1, 401))
    assert _stray(tmp_path / "threads") == []


_HANG_BEFORE_RENAME = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from repl.store.jsonfiles import JSONStore
    from repl.thread import Message
    s = JSONStore(Path(sys.argv[1]))
    def hang(*args, **kwargs):
        print("written", flush=True)
        time.sleep(60)
    os.replace = hang  # the new file is complete but not yet in place: a crash now
    s.update("t", model="never committed")  # a change other than a save rewrites the file
""")


def test_a_crash_before_the_rename_keeps_the_old_file_and_the_next_open_tidies(
        tmp_path: Path) -> None:
    folder = tmp_path / "threads"
    s = JSONStore(folder)
    s.create("t")
    s.append("t", Message("user", "committed"))
    before = (folder / "t.json").read_bytes()
    proc = _run(_HANG_BEFORE_RENAME, str(folder))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert len(_stray(folder)) == 1  # what the crash left
    assert (folder / "t.json").read_bytes() == before
    assert [m.content for m in s.messages("t")] == ["committed"]
    assert s.get("t").model is None  # type: ignore[union-attr]
    # the lock died with the process: writing goes on
    s.append("t", Message("user", "after"))
    # a half-written file from another crash, in the trash too
    (folder / ".tmp-abc123.tmp").write_bytes(before[: len(before) // 2])
    (folder / "trash").mkdir()
    (folder / "trash" / ".tmp-def456.tmp").write_bytes(b"{")
    reopened = JSONStore(folder)
    assert _stray(folder) == [] and _stray(folder / "trash") == []
    assert [m.content for m in reopened.messages("t")] == ["committed", "after"]
    assert [t.name for t in reopened.list_threads()] == ["t"]


_WRITE_FOREVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from repl.store.jsonfiles import JSONStore
    from repl.thread import Message
    s = JSONStore(Path(sys.argv[1]))
    i = int(sys.argv[2])
    print("started", flush=True)
    while True:
        s.append("t", Message("user", f"m{i} " + "x" * 200_000))
        i += 1
""")


@pytest.mark.slow
def test_kill_9_of_a_writer_never_costs_a_committed_line(tmp_path: Path) -> None:
    folder = tmp_path / "threads"
    JSONStore(folder).create("t")
    rng = random.Random(7)
    count = 0
    for _ in range(10):
        proc = _run(_WRITE_FOREVER, str(folder), str(count))
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.02, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        raw = (folder / "t.json").read_bytes()
        committed = raw[: raw.rfind(b"\n") + 1]  # a last line without its newline: cut short
        _, *messages = map(json.loads, committed.splitlines())  # every committed line whole
        contents = [m["content"].split()[0] for m in messages]
        assert contents == [f"m{i}" for i in range(len(contents))]  # nothing lost or reordered
        assert len(contents) >= count
        count = len(contents)
        reopened = JSONStore(folder)  # tidies what the kill left
        assert _stray(folder) == []
        assert len(reopened.messages("t")) == count
    assert count > 0


def test_a_held_lock_makes_writers_wait_then_report_busy(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    s = _store(tmp_path)
    s.create("t")
    monkeypatch.setattr(jsonfiles.names, "LOCK_TIMEOUT", 0.2)
    fd = os.open(tmp_path / "threads" / ".t.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process in the middle of a write
        with pytest.raises(StoreBusyError):
            s.append("t", Message("user", "waits"))
        s.create("other")  # other threads are not held up
        s.append("other", Message("user", "fine"))
    finally:
        os.close(fd)
    s.append("t", Message("user", "now"))
    assert [m.content for m in s.messages("t")] == ["now"]


def test_a_message_kept_in_memory_keeps_what_it_covers(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = BufferedStore(_store(tmp_path))
    store.create("t")
    first = store.append("t", Message("user", "long ago"))
    monkeypatch.setattr(jsonfiles.names, "LOCK_TIMEOUT", 0.1)
    fd = os.open(tmp_path / "threads" / ".t.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the thread cannot be written: kept in memory
        with pytest.raises(UnsavedError):
            store.append("t", Message(SUMMARY, "the gist", covers=first.id))
        assert [m.covers for m in store.messages("t")] == [None, first.id]
    finally:
        os.close(fd)
    assert store.flush()
    assert [(m.role, m.covers) for m in store.inner.messages("t")] == [
        ("user", None), (SUMMARY, first.id)]


# -- permissions and I/O errors -------------------------------------------------------------------


def test_directory_0700_and_every_file_0600_with_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        s = _store(tmp_path)
        s.create("t")
        s.append("t", Message("user", "secret"))
        s.create("gone")
        s.delete("gone")
        s.set_state("last_thread", "t")
    finally:
        os.umask(old)
    folder = tmp_path / "threads"
    assert _mode(folder) == 0o700 and _mode(folder / "trash") == 0o700
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"t.json", "state.json", ".lock", ".t.json.lock"}
    for p in files:
        assert _mode(p) == 0o600, p


def test_loose_permissions_are_tightened_at_open(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("t")
    folder = tmp_path / "threads"
    os.chmod(folder, 0o755)
    os.chmod(folder / "t.json", 0o644)
    _store(tmp_path)
    assert _mode(folder) == 0o700 and _mode(folder / "t.json") == 0o600


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_write_is_a_store_error_naming_the_file_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    s = _store(tmp_path)
    s.create("t")
    s.append("t", Message("user", "kept"))
    path = tmp_path / "threads" / "t.json"
    before = path.read_bytes()

    def fail(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(StoreError) as info:
        s.append("t", Message("user", "lost?"))
    assert str(path) in str(info.value) and os.strerror(code) in str(info.value)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _stray(tmp_path / "threads") == []


def test_a_directory_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError) as info:
        JSONStore(tmp_path / "file" / "threads")
    assert str(tmp_path / "file" / "threads") in str(info.value)


# -- damage ---------------------------------------------------------------------------------------

GARBAGE = {
    "text": b"this is not json\n",
    "truncated": None,  # the first half of a real thread file
    "empty": b"",
    "not-utf8": b'{"name": "t", "messages": [], "x": "\xff\xfe"}',
    "not-a-thread": b"[1, 2, 3]",
    "bad-message": b'{"name": "t", "messages": [{"role": "user"}]}',
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
@pytest.mark.parametrize("operation", ["messages", "append", "list", "search", "create"])
def test_a_damaged_thread_file_is_moved_aside_and_reported_never_replaced(
        tmp_path: Path, kind: str, operation: str) -> None:
    s = _store(tmp_path)
    s.create("t")
    s.append("t", Message("user", "some words here"))
    path = tmp_path / "threads" / "t.json"
    garbage = GARBAGE[kind]
    if garbage is None:
        garbage = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(garbage)
    if operation in ("list", "search"):  # said, not raised: one file never hides the others
        assert (s.list_threads() if operation == "list" else s.search("words")) == []
        [said] = s.take_damage()
    else:
        with pytest.raises(StoreError) as info:
            if operation == "messages":
                s.messages("t")
            elif operation == "append":
                s.append("t", Message("user", "more"))
            else:
                s.create("t")
        said = str(info.value)
    [aside] = [p for p in path.parent.iterdir() if p.name.startswith("t.json.damaged-")]
    assert str(path) in said and str(aside) in said
    assert aside.read_bytes() == garbage  # kept exactly as found
    assert not path.exists()  # nothing was written in its place
    # the thread is gone until someone repairs the file; the name can be used again
    assert s.get("t") is None
    with pytest.raises(ThreadError):
        s.messages("t")
    s.create("t")
    assert s.messages("t") == [] and aside.read_bytes() == garbage


def test_a_damaged_state_file_is_moved_aside_and_reported(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.set_state("last_thread", "t")
    path = tmp_path / "threads" / "state.json"
    path.write_bytes(b'{"last_thread": ')
    assert s.get_state("last_thread") is None  # a state that starts anew, never a failure
    [said] = s.take_damage()
    assert str(path) in said
    [aside] = [p for p in path.parent.iterdir() if p.name.startswith("state.json.damaged-")]
    assert aside.read_bytes() == b'{"last_thread": '
    assert s.get_state("last_thread") is None
    s.set_state("last_thread", "u")
    assert s.get_state("last_thread") == "u"


def test_a_file_from_a_newer_chatrepl_is_refused_and_left_alone(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create("t")
    path = tmp_path / "threads" / "t.json"
    doc = thread_file(path)
    doc["format"] = 99
    doc["messages"] = {"a new layout": True}
    raw = json.dumps(doc).encode()
    path.write_bytes(raw)
    with pytest.raises(StoreError, match="newer chatrepl"):
        s.append("t", Message("user", "x"))
    assert path.read_bytes() == raw

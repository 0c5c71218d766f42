"""The ThreadStore contract, run against every backend, plus SQLite-specific guarantees.

Add a backend by adding a factory to BACKENDS in tests/stores.py.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repl import files
from repl.errors import NotInTrashError, StoreError, ThreadError
from repl.store import ThreadStore, migrations
from repl.store.sqlite import SQLiteStore
from repl.thread import Message, ThreadInfo, Usage
from repl.thread_settings import ThreadSettings


def _sqlite_path(base: Path) -> Path:
    return base / "x" / "chatrepl.db"


def _sqlite(base: Path) -> ThreadStore:
    return SQLiteStore(_sqlite_path(base))


from stores import BACKENDS, WHOLE, stored_bytes, two_processes_append  # noqa: E402  name -> factory(base) -> store


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(backend: str, tmp_path: Path) -> Iterator[Callable[[], ThreadStore]]:
    """Open (another) store on this test's data; every store opened is closed at teardown."""
    opened: list[ThreadStore] = []

    def make() -> ThreadStore:
        s = BACKENDS[backend](tmp_path)
        opened.append(s)
        return s

    yield make
    for s in opened:
        try:
            s.close()
        except Exception:
            pass


@pytest.fixture
def store(open_store: Callable[[], ThreadStore]) -> ThreadStore:
    return open_store()


def tick() -> None:
    """Let the wall clock move so 'most recently active' is unambiguous."""
    time.sleep(0.01)


def same(a: Message, b: Message) -> None:
    assert (a.role, a.content, a.model, a.status, a.usage, a.parts, a.fields, a.reasoning,
            a.meta) == \
        (b.role, b.content, b.model, b.status, b.usage, b.parts, b.fields, b.reasoning, b.meta)


def test_whole_messages_read_back_forked_and_hidden(store: ThreadStore) -> None:
    store.create("w")
    stored = [store.append("w", m) for m in WHOLE]
    for back, m in zip(store.messages("w"), WHOLE, strict=True):
        same(back, m)
    assert [m.for_api() for m in store.messages("w")] == [m.for_api() for m in WHOLE]
    store.fork("w", "w2")
    for back, m in zip(store.messages("w2"), WHOLE, strict=True):
        same(back, m)
    store.hide("w", [stored[2].id or 0], "undone")
    store.unhide("w", [stored[2].id or 0])
    for back, m in zip(store.messages("w", hidden=True), WHOLE, strict=True):
        same(back, m)
    assert store.messages("w")[2].hidden is None  # a "hidden" key of the API's is not ours


# -- threads ----------------------------------------------------------------------------------


def test_create_and_get(store: ThreadStore) -> None:
    info = store.create("work", model="gpt-x", system="be brief")
    assert isinstance(info, ThreadInfo)
    assert (info.name, info.model, info.system, info.message_count) == \
        ("work", "gpt-x", "be brief", 0)
    got = store.get("work")
    assert got is not None
    assert (got.name, got.model, got.system, got.message_count) == ("work", "gpt-x", "be brief", 0)
    assert got.created_at > 0 and got.updated_at >= got.created_at
    assert store.get("nope") is None


def test_create_without_model_or_system(store: ThreadStore) -> None:
    store.create("plain")
    got = store.get("plain")
    assert got is not None and got.model is None and got.system is None


def test_list_empty(store: ThreadStore) -> None:
    assert store.list_threads() == []


def test_list_most_recently_active_first(store: ThreadStore) -> None:
    for name in ("a", "b", "c"):
        store.create(name)
        tick()
    assert [t.name for t in store.list_threads()] == ["c", "b", "a"]
    store.append("a", Message("user", "hi"))
    tick()
    assert [t.name for t in store.list_threads()] == ["a", "c", "b"]
    store.append("b", Message("user", "hey"))
    assert [t.name for t in store.list_threads()] == ["b", "a", "c"]
    counts = {t.name: t.message_count for t in store.list_threads()}
    assert counts == {"a": 1, "b": 1, "c": 0}


def test_duplicate_name_raises_thread_error(store: ThreadStore) -> None:
    store.create("dup", model="m1")
    with pytest.raises(ThreadError):
        store.create("dup", model="m2")
    # the first one is untouched and there is still only one
    assert [t.name for t in store.list_threads()] == ["dup"]
    got = store.get("dup")
    assert got is not None and got.model == "m1"


def test_unicode_thread_names(store: ThreadStore) -> None:
    for name in ("日本語", "café", "with spaces", "emoji 🧵"):
        store.create(name)
        store.append(name, Message("user", name))
        assert [m.content for m in store.messages(name)] == [name]
    assert {t.name for t in store.list_threads()} == {"日本語", "café", "with spaces", "emoji 🧵"}


# -- messages ---------------------------------------------------------------------------------


def test_append_returns_ids_and_messages_come_back_in_order(store: ThreadStore) -> None:
    store.create("t")
    sent = [
        Message("user", "hello", model="gpt-x"),
        Message("assistant", "hi there", model="gpt-x", usage=Usage(12, 3)),
        Message("user", "ünïcødé ✓ 日本 🧵 \u202e rtl"),
        Message("assistant", "", model="m2", status="interrupted", usage=Usage(7, None)),
        Message("user", "nul\x00inside\x00"),
        Message("assistant", "line1\nline2\r\n\ttab", status="truncated"),
        Message("assistant", "err part", status="error", usage=Usage(None, 4)),
        Message("system", "sys text"),
    ]
    returned = [store.append("t", m) for m in sent]
    ids = [r.id for r in returned if isinstance(r.id, int)]
    assert len(ids) == len(sent)  # every returned message has an integer id
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for r, m in zip(returned, sent, strict=True):
        same(r, m)
        assert r.created_at > 0
    back = store.messages("t")
    assert len(back) == len(sent)
    for b, m in zip(back, sent, strict=True):
        same(b, m)
    assert [b.id for b in back] == ids
    assert [b.created_at for b in back] == [r.created_at for r in returned]
    info = store.get("t")
    assert info is not None and info.message_count == len(sent)


def test_explicit_created_at_is_kept(store: ThreadStore) -> None:
    store.create("t")
    r = store.append("t", Message("user", "x", created_at=1_700_000_000.5))
    assert r.created_at == 1_700_000_000.5
    assert store.messages("t")[0].created_at == 1_700_000_000.5


def test_one_megabyte_content(store: ThreadStore) -> None:
    store.create("big")
    content = ("0123456789abcdef" * 65536) + "é"  # 1 MiB + a non-ASCII tail
    store.append("big", Message("assistant", content))
    [m] = store.messages("big")
    assert m.content == content
    assert len(m.content) == 1024 * 1024 + 1


def test_nul_characters_survive(store: ThreadStore) -> None:
    store.create("nul")
    for content in ("\x00", "a\x00b", "\x00\x00lead", "trail\x00"):
        store.append("nul", Message("user", content))
    assert [m.content for m in store.messages("nul")] == ["\x00", "a\x00b", "\x00\x00lead",
                                                          "trail\x00"]


def test_messages_last_n(store: ThreadStore) -> None:
    store.create("t")
    for i in range(10):
        store.append("t", Message("user" if i % 2 == 0 else "assistant", f"m{i}"))
    assert [m.content for m in store.messages("t", last=3)] == ["m7", "m8", "m9"]
    assert [m.content for m in store.messages("t", last=1)] == ["m9"]
    assert [m.content for m in store.messages("t", last=100)] == [f"m{i}" for i in range(10)]
    assert store.messages("t", last=0) == []
    assert [m.content for m in store.messages("t")] == [f"m{i}" for i in range(10)]


def test_messages_of_empty_thread(store: ThreadStore) -> None:
    store.create("empty")
    assert store.messages("empty") == []
    assert store.messages("empty", last=5) == []


def test_threads_do_not_share_messages(store: ThreadStore) -> None:
    store.create("a")
    store.create("b")
    store.append("a", Message("user", "for a"))
    store.append("b", Message("user", "for b"))
    store.append("a", Message("user", "for a again"))
    assert [m.content for m in store.messages("a")] == ["for a", "for a again"]
    assert [m.content for m in store.messages("b")] == ["for b"]


# -- update / rename / delete ------------------------------------------------------------------


def test_update_model_system_and_clear_system(store: ThreadStore) -> None:
    store.create("t", model="m1", system="s1")
    store.update("t", model="m2")
    got = store.get("t")
    assert got is not None and (got.model, got.system) == ("m2", "s1")
    store.update("t", system="s2")
    got = store.get("t")
    assert got is not None and (got.model, got.system) == ("m2", "s2")
    store.update("t")  # nothing given: nothing changes
    got = store.get("t")
    assert got is not None and (got.model, got.system) == ("m2", "s2")
    store.update("t", clear_system=True)
    got = store.get("t")
    assert got is not None and (got.model, got.system) == ("m2", None)
    store.update("t", model="m3", system="s3")
    got = store.get("t")
    assert got is not None and (got.model, got.system) == ("m3", "s3")


def test_thread_settings_are_kept_forked_renamed_and_cleared(store: ThreadStore) -> None:
    store.create("t", model="m1")
    assert store.get("t").settings == ThreadSettings()  # type: ignore[union-attr]
    wanted = ThreadSettings.of({"temperature": 0.2, "effort": "high", "tools": {"calc.*": True},
                                "tools_allowed": ["calc.add"], "endpoint": "local",
                                "newer_key": [1]})
    # chatrepl's own keys typed, the request settings (and a key a newer version wrote) apart
    assert (wanted.endpoint, wanted.tools, wanted.tools_allowed) == (
        "local", {"calc.*": True}, ("calc.add",))
    assert wanted.request == {"temperature": 0.2, "effort": "high", "newer_key": [1]}
    store.update("t", settings=wanted)
    store.update("t", model="m2")  # settings not given: left as they are
    assert store.get("t").settings == wanted  # type: ignore[union-attr]
    assert [i.settings for i in store.list_threads()] == [wanted]
    store.fork("t", "t2")
    store.rename("t", "t3")
    assert store.get("t2").settings == store.get("t3").settings == wanted  # type: ignore[union-attr]
    store.update("t3", settings=ThreadSettings())
    assert store.get("t3").settings == ThreadSettings()  # type: ignore[union-attr]
    store.delete("t2")
    assert [i.settings for i in store.trash()] == [wanted]
    assert wanted.stored() == {"temperature": 0.2, "effort": "high", "tools": {"calc.*": True},
                               "tools_allowed": ["calc.add"], "endpoint": "local",
                               "newer_key": [1]}  # as stores have always held them


def test_rename_keeps_messages(store: ThreadStore) -> None:
    store.create("old", model="m", system="s")
    store.append("old", Message("user", "one"))
    store.append("old", Message("assistant", "two"))
    store.rename("old", "new")
    assert store.get("old") is None
    got = store.get("new")
    assert got is not None and (got.model, got.system, got.message_count) == ("m", "s", 2)
    assert [m.content for m in store.messages("new")] == ["one", "two"]
    with pytest.raises(ThreadError):
        store.messages("old")
    # the old name is free again
    store.create("old")
    assert store.messages("old") == []


def test_rename_onto_existing_name_fails(store: ThreadStore) -> None:
    store.create("a")
    store.create("b")
    store.append("a", Message("user", "in a"))
    store.append("b", Message("user", "in b"))
    with pytest.raises(ThreadError):
        store.rename("a", "b")
    assert [m.content for m in store.messages("a")] == ["in a"]
    assert [m.content for m in store.messages("b")] == ["in b"]
    assert {t.name for t in store.list_threads()} == {"a", "b"}


def test_rename_moves_last_thread_state(store: ThreadStore) -> None:
    store.create("a")
    store.create("other")
    store.set_state("last_thread", "a")
    store.rename("a", "renamed")
    assert store.get_state("last_thread") == "renamed"
    # renaming a thread that is not the last one leaves the state alone
    store.rename("other", "other2")
    assert store.get_state("last_thread") == "renamed"


def test_rename_does_not_touch_other_state_keys(store: ThreadStore) -> None:
    store.create("a")
    store.set_state("something_else", "a")
    store.rename("a", "b")
    assert store.get_state("something_else") == "a"


def test_delete_removes_thread_and_messages(store: ThreadStore) -> None:
    store.create("gone")
    store.create("kept")
    for i in range(5):
        store.append("gone", Message("user", f"g{i}"))
    store.append("kept", Message("user", "k"))
    store.delete("gone")
    assert store.get("gone") is None
    assert [t.name for t in store.list_threads()] == ["kept"]
    with pytest.raises(ThreadError):
        store.messages("gone")
    # the name is free: a new thread of that name starts empty; the old one is in the trash
    store.create("gone")
    assert store.messages("gone") == []
    assert [m.content for m in store.messages("kept")] == ["k"]
    assert [t.name for t in store.trash()] == ["gone"]
    assert store.trash()[0].deleted_at


# -- trash, fork, hidden messages, search (the power-user commands) ------------------------------


def test_restore_from_trash(store: ThreadStore) -> None:
    store.create("t", model="m", system="s")
    store.append("t", Message("user", "hello"))
    store.delete("t")
    assert store.restore("t") == "t"
    info = store.get("t")
    assert info is not None and info.model == "m" and info.system == "s"
    assert [m.content for m in store.messages("t")] == ["hello"]
    assert store.trash() == []
    store.delete("t")
    store.create("t")
    assert store.restore("t") == "t-restored"  # never onto a live thread
    with pytest.raises(NotInTrashError) as refused:
        store.restore("never-existed")
    # the store says what is missing; where a command would help, the REPL says it
    assert (refused.value.name, str(refused.value)) == (
        "never-existed", "no thread named 'never-existed' in the trash")
    assert refused.value.line(repl=True).endswith("; /trash lists it")
    assert refused.value.line(repl=False) == str(refused.value)


def test_fork_copies_the_conversation_up_to_a_message(store: ThreadStore) -> None:
    store.create("src", model="m", system="sys")
    ids = [store.append("src", Message("user" if i % 2 == 0 else "assistant", f"m{i}")).id
           for i in range(6)]
    store.fork("src", "all")
    assert [m.content for m in store.messages("all")] == [f"m{i}" for i in range(6)]
    info = store.fork("src", "half", upto=ids[3])
    assert info.name == "half" and info.model == "m" and info.system == "sys"
    assert [m.content for m in store.messages("half")] == ["m0", "m1", "m2", "m3"]
    store.append("half", Message("user", "new"))
    assert len(store.messages("src")) == 6  # the source is untouched
    with pytest.raises(ThreadError):
        store.fork("src", "all")


def test_hidden_messages_leave_the_conversation_but_stay(store: ThreadStore) -> None:
    store.create("t")
    a = store.append("t", Message("user", "q"))
    b = store.append("t", Message("assistant", "first answer"))
    c = store.append("t", Message("assistant", "second answer"))
    assert a.id is not None and b.id is not None and c.id is not None
    store.hide("t", [b.id], "replaced")
    assert [m.content for m in store.messages("t")] == ["q", "second answer"]
    assert store.get("t").message_count == 2  # type: ignore[union-attr]
    everything = store.messages("t", hidden=True)
    assert [(m.content, m.hidden) for m in everything] == [
        ("q", None), ("first answer", "replaced"), ("second answer", None)]
    time.sleep(0.01)
    store.hide("t", [a.id, c.id], "undone:edit")
    assert store.messages("t") == []
    assert [m.content for m in store.last_hidden("t", "undone")] == ["q", "second answer"]
    assert [m.content for m in store.last_hidden("t", "replaced")] == ["first answer"]
    store.unhide("t", [a.id, c.id])
    assert [m.content for m in store.messages("t")] == ["q", "second answer"]
    assert store.last_hidden("t", "undone") == []


def test_append_many_and_summaries(store: ThreadStore) -> None:
    store.create("t")
    store.append_many("t", [Message("user", f"u{i}", created_at=1000.0 + i) for i in range(50)])
    messages = store.messages("t")
    assert [m.content for m in messages] == [f"u{i}" for i in range(50)]
    assert messages[3].created_at == 1003.0
    summary = store.append("t", Message("summary", "the gist", covers=messages[9].id))
    assert store.messages("t", last=1)[0].covers == messages[9].id == summary.covers


def test_a_message_sent_twice_is_stored_once(store: ThreadStore) -> None:
    store.create("t")
    question = Message("user", "only once, please")
    first = store.append("t", question)
    again = store.append("t", question)  # its reply was lost: BufferedStore sends it again
    assert again == first and again.uid == question.uid
    answer = Message("assistant", "noted")
    stored = store.append_many("t", [question, answer, answer])
    assert stored[0] == first and stored[1] == stored[2]
    assert [m.content for m in store.messages("t")] == ["only once, please", "noted"]
    info = store.get("t")
    assert info is not None and info.message_count == 2
    other = Message("user", "only once, please")  # the same words, a new message
    assert other.uid != question.uid
    store.append("t", other)
    assert len(store.messages("t")) == 3


def test_erase_leaves_no_byte_of_the_messages(store: ThreadStore, backend: str,
                                              tmp_path: Path) -> None:
    secret = f"zq{os.urandom(6).hex()}xv"
    store.create("t")
    keep = store.append("t", Message("user", "an ordinary question"))
    store.append("t", Message("assistant", "an ordinary answer"))
    question = store.append("t", Message("user", f"my password is {secret}"))
    first = store.append("t", Message("assistant", f"noted: {secret}"))
    store.hide("t", [first.id or 0], "replaced")  # a hidden version goes too
    second = store.append("t", Message("assistant", f"again {secret}"))
    later = store.append("t", Message("user", "later"))
    assert secret.encode() in stored_bytes(backend, tmp_path)

    assert store.erase("t", [question.id or 0, first.id or 0, second.id or 0]) == 3
    assert secret.encode() not in stored_bytes(backend, tmp_path)
    assert [m.content for m in store.messages("t", hidden=True)] == [
        "an ordinary question", "an ordinary answer", "later"]
    assert store.search(secret) == [] and store.last_hidden("t", "replaced") == []
    info = store.get("t")
    assert info is not None and info.message_count == 3
    assert store.append("t", later) == later  # what is left is still kept once
    store.hide("t", [keep.id or 0], "undone")
    assert [m.content for m in store.last_hidden("t", "undone")] == ["an ordinary question"]


def test_purge_leaves_no_byte_of_a_thread_in_the_trash(store: ThreadStore, backend: str,
                                                       tmp_path: Path) -> None:
    secret = f"zq{os.urandom(6).hex()}xv"
    store.create("kept")
    store.append("kept", Message("user", "stays"))
    for _ in range(2):  # two deleted threads of one name: both go
        store.create("gone")
        store.append("gone", Message("user", f"the secret is {secret}"))
        store.delete("gone")
    store.create("gone")  # a live thread of that name is not touched
    assert store.purge("gone") == 2
    assert secret.encode() not in stored_bytes(backend, tmp_path)
    assert store.trash() == []
    assert {t.name for t in store.list_threads()} == {"kept", "gone"}
    assert [m.content for m in store.messages("kept")] == ["stays"]
    with pytest.raises(NotInTrashError):
        store.purge("gone")


def test_search_ranks_and_locates(store: ThreadStore) -> None:
    store.create("fruit")
    store.append("fruit", Message("user", "tell me about apples"))
    store.append("fruit", Message("assistant", "Apples are red or green. Apples keep well."))
    store.append("fruit", Message("user", "and pears?"))
    store.create("other")
    store.append("other", Message("user", "nothing to see"))
    hits = store.search("apples")
    assert {(h.thread, h.turn, h.role) for h in hits} == {
        ("fruit", 1, "user"), ("fruit", 1, "assistant")}
    assert hits[0].role == "assistant"  # two mentions rank above one
    start, end = "\ue000", "\ue001"
    assert f"{start}Apples{end}" in hits[0].snippet
    assert store.search("pears")[0].turn == 2
    assert store.search("apples pears") == []  # every word must match in one message
    assert store.search('"quoted" AND OR *') == []  # no query syntax leaks through
    store.delete("fruit")
    assert store.search("apples") == []  # the trash is not searched


def test_search_finds_word_prefixes_and_unspaced_scripts(store: ThreadStore) -> None:
    store.create("t")
    store.append("t", Message("user", "how many tokens is this?"))
    store.append("t", Message("assistant", "今日はいい天気ですね"))
    store.append("t", Message("user", "broken words"))
    assert [h.snippet for h in store.search("tok")] == ["how many \ue000tokens\ue001 is this?"]
    assert [h.role for h in store.search("TOK many")] == ["user"]
    assert store.search("kens") == []  # a prefix, not any part of a word
    assert [h.role for h in store.search("天気")] == ["assistant"]
    assert [h.role for h in store.search("いい天気 今日")] == ["assistant"]
    assert store.search("雨") == []


def test_a_hit_taken_back_names_the_turn_it_belongs_to(store: ThreadStore) -> None:
    store.create("t")
    store.append("t", Message("user", "first"))
    store.append("t", Message("assistant", "one"))
    question = store.append("t", Message("user", "second, badly put"))
    answer = store.append("t", Message("assistant", "a reply about zebras"))
    store.hide("t", [question.id or 0, answer.id or 0], "edited")  # what /edit does
    store.append("t", Message("user", "second, better"))
    retried = store.append("t", Message("assistant", "giraffes, first try"))
    store.hide("t", [retried.id or 0], "replaced")  # what /retry does
    store.append("t", Message("assistant", "giraffes again"))
    store.append("t", Message("user", "third"))
    store.append("t", Message("assistant", "three"))
    assert [(h.turn, h.hidden) for h in store.search("zebras")] == [(2, "edited")]
    assert [(h.turn, h.hidden) for h in store.search("badly")] == [(2, "edited")]
    assert sorted((h.turn, h.hidden or "") for h in store.search("giraffes")) == [
        (2, ""), (2, "replaced")]
    assert [h.turn for h in store.search("three")] == [3]


@pytest.mark.parametrize("operation", [
    lambda s: s.messages("ghost"),
    lambda s: s.messages("ghost", last=2),
    lambda s: s.append("ghost", Message("user", "x")),
    lambda s: s.update("ghost", model="m"),
    lambda s: s.update("ghost", clear_system=True),
    lambda s: s.rename("ghost", "spirit"),
    lambda s: s.delete("ghost"),
], ids=["messages", "messages_last", "append", "update", "clear_system", "rename", "delete"])
def test_unknown_thread_raises_thread_error(store: ThreadStore,
                                            operation: Callable[[ThreadStore], object]) -> None:
    store.create("real")
    with pytest.raises(ThreadError):
        operation(store)
    assert [t.name for t in store.list_threads()] == ["real"]
    assert store.get("spirit") is None


# -- state --------------------------------------------------------------------------------------


def test_get_and_set_state(store: ThreadStore) -> None:
    assert store.get_state("last_thread") is None
    store.set_state("last_thread", "work")
    assert store.get_state("last_thread") == "work"
    store.set_state("last_thread", "play")
    assert store.get_state("last_thread") == "play"
    store.set_state("other", "ünï ✓")
    assert store.get_state("other") == "ünï ✓"
    assert store.get_state("last_thread") == "play"
    store.set_state("empty", "")
    assert store.get_state("empty") == ""


# -- persistence and several instances ------------------------------------------------------------


def test_data_persists_after_close_and_reopen(open_store: Callable[[], ThreadStore]) -> None:
    s = open_store()
    s.create("keep", model="m", system="sys")
    s.append("keep", Message("user", "q", model="m"))
    s.append("keep", Message("assistant", "a", model="m", status="truncated", usage=Usage(3, 4)))
    s.set_state("last_thread", "keep")
    s.close()

    s2 = open_store()
    got = s2.get("keep")
    assert got is not None and (got.model, got.system, got.message_count) == ("m", "sys", 2)
    back = s2.messages("keep")
    same(back[0], Message("user", "q", model="m"))
    same(back[1], Message("assistant", "a", model="m", status="truncated", usage=Usage(3, 4)))
    assert s2.get_state("last_thread") == "keep"


def test_two_instances_interleaved_appends_lose_nothing(
        open_store: Callable[[], ThreadStore]) -> None:
    a = open_store()
    b = open_store()
    a.create("shared")
    expected = []
    for i in range(20):
        writer, tag = (a, "a") if i % 2 == 0 else (b, "b")
        writer.append("shared", Message("user", f"{tag}{i}"))
        expected.append(f"{tag}{i}")
    assert [m.content for m in a.messages("shared")] == expected
    assert [m.content for m in b.messages("shared")] == expected
    # each sees the other's threads and state too
    b.create("from_b")
    a.set_state("last_thread", "from_b")
    assert a.get("from_b") is not None
    assert b.get_state("last_thread") == "from_b"
    infos = {t.name: t.message_count for t in a.list_threads()}
    assert infos == {"shared": 20, "from_b": 0}


# -- property: what goes in comes out -------------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
_json = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | _text,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=8)
_part = st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "x-new"]),
                               "text": _text}, optional={"extra": _json})
_message = st.builds(
    Message,
    role=st.sampled_from(["user", "assistant", "system", "tool"]),
    content=_text,
    model=st.none() | st.text(max_size=30),
    status=st.sampled_from([None, "interrupted", "error", "truncated"]),
    usage=st.builds(Usage, st.none() | st.integers(0, 2**31), st.none() | st.integers(0, 2**31)),
    parts=st.none() | st.lists(_part, max_size=3).map(tuple),
    fields=st.dictionaries(_text.filter(lambda k: k not in ("role", "content")), _json,
                           max_size=3),
    reasoning=st.none() | _text,
)
_names = itertools.count()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=st.lists(_message, max_size=12))
def test_property_appended_messages_read_back_identically(store: ThreadStore,
                                                          sent: list[Message]) -> None:
    name = f"prop-{next(_names)}"
    store.create(name)
    for m in sent:
        store.append(name, m)
    back = store.messages(name)
    assert len(back) == len(sent)
    for b, m in zip(back, sent, strict=True):
        same(b, m)
    if sent:
        assert [m.content for m in store.messages(name, last=1)] == [sent[-1].content]


# == SQLite only ===================================================================================


@pytest.mark.slow
def test_sqlite_two_processes_append_concurrently(tmp_path: Path) -> None:
    two_processes_append("sqlite", tmp_path)
    reopened = SQLiteStore(_sqlite_path(tmp_path))
    info = reopened.get("shared")
    reopened.close()
    assert info is not None and info.message_count == 400


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_sqlite_file_permissions_with_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = _sqlite_path(tmp_path)
        s = SQLiteStore(path)
        s.create("t")
        s.append("t", Message("user", "secret"))
        wal = path.with_name(path.name + "-wal")
        shm = path.with_name(path.name + "-shm")
        assert _mode(path.parent) == 0o700
        assert _mode(path) == 0o600
        assert wal.exists() and shm.exists()
        assert _mode(wal) == 0o600
        assert _mode(shm) == 0o600
        # a second connection (another process) that creates the side files again
        s.close()
        s2 = SQLiteStore(path)
        s2.append("t", Message("user", "more"))
        for f in (path, wal, shm):
            if f.exists():
                assert _mode(f) == 0o600, f
        s2.close()
    finally:
        os.umask(old)


def test_sqlite_tightens_existing_loose_permissions(tmp_path: Path) -> None:
    path = _sqlite_path(tmp_path)
    path.parent.mkdir(parents=True, mode=0o755)
    os.chmod(path.parent, 0o755)
    s = SQLiteStore(path)
    s.close()
    os.chmod(path, 0o644)
    s = SQLiteStore(path)
    try:
        assert _mode(path.parent) == 0o700
        assert _mode(path) == 0o600
    finally:
        s.close()


@pytest.mark.parametrize("garbage", [
    b"this is not a database, just some text\n" * 3,
    bytes(range(256)) * 16,
    b"SQLite format 3\x00" + b"\xff" * 84 + b"\x00" * 3996,
], ids=["text", "binary", "bad-header"])
def test_sqlite_garbage_file_is_quarantined_never_overwritten(tmp_path: Path,
                                                               garbage: bytes) -> None:
    path = _sqlite_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(garbage)
    s = SQLiteStore(path)  # opens: the damaged file is moved aside and a new store begins
    try:
        assert s.recovered is not None
        assert s.recovered.damaged.read_bytes() == garbage  # kept exactly as found
        assert str(path) in s.recovered.describe()
        s.create("x")
        assert [t.name for t in s.list_threads()] == ["x"]
    finally:
        s.close()


def test_sqlite_directory_at_db_path_gives_store_error(tmp_path: Path) -> None:
    path = _sqlite_path(tmp_path)
    path.mkdir(parents=True)
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert str(path) in str(info.value)


def _migration_rows(path: Path) -> list[tuple[str, float]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
    finally:
        db.close()


def test_sqlite_migrations_recorded_and_not_reapplied(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sqlite_path(tmp_path)
    calls: list[int] = []

    def m999_probe(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("CREATE TABLE probe (x INTEGER)")  # would fail if applied twice

    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, ("999_probe", m999_probe)])
    s = SQLiteStore(path)
    s.create("t")
    s.append("t", Message("user", "keep me"))
    s.close()
    first = _migration_rows(path)
    names = [name for name, _ in first]
    assert names == sorted(n for n, _ in migrations.MIGRATIONS)
    assert "001_initial" in names and "999_probe" in names
    assert calls == [1]

    for _ in range(2):
        s = SQLiteStore(path)
        assert [m.content for m in s.messages("t")] == ["keep me"]
        s.close()
    assert calls == [1]
    assert _migration_rows(path) == first


def test_sqlite_a_store_of_the_schema_before_uids_opens_with_nothing_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sqlite_path(tmp_path)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:2])  # as released before
        migrations.apply(db)
    db.execute("INSERT INTO threads (name, created_at, updated_at) VALUES ('old', 1, 2)")
    db.executemany("INSERT INTO messages (thread_id, role, content, created_at, hidden, covers)"
                   " VALUES (1, ?, ?, ?, ?, ?)",
                   [("user", "q", 1.0, None, None), ("assistant", "a1", 1.5, "replaced", None),
                    ("assistant", "a2", 1.6, None, None), ("summary", "gist", 1.7, None, 3)])
    db.close()

    s = SQLiteStore(path)
    kept = s.messages("old", hidden=True)
    assert [(m.role, m.content, m.hidden, m.covers) for m in kept] == [
        ("user", "q", None, None), ("assistant", "a1", "replaced", None),
        ("assistant", "a2", None, None), ("summary", "gist", None, 3)]
    assert len({m.uid for m in kept}) == 4 and all(len(m.uid) == 32 for m in kept)
    assert s.search("gist")[0].thread == "old"
    s.append("old", kept[2])  # an old message sent again adds nothing
    s.close()
    s = SQLiteStore(path)
    assert s.messages("old", hidden=True) == kept  # uids kept, not made again at each open
    s.close()


def test_sqlite_fresh_db_records_exactly_the_known_migrations(tmp_path: Path) -> None:
    path = _sqlite_path(tmp_path)
    SQLiteStore(path).close()
    SQLiteStore(path).close()
    rows = _migration_rows(path)
    assert [n for n, _ in rows] == [n for n, _ in migrations.MIGRATIONS]
    assert all(float(t) > 0 for _, t in rows)


def test_sqlite_delete_moves_to_trash_and_restore_brings_back(tmp_path: Path) -> None:
    path = _sqlite_path(tmp_path)
    s = SQLiteStore(path)
    s.create("gone")
    for i in range(3):
        s.append("gone", Message("user", str(i)))
    s.delete("gone")
    assert s.get("gone") is None and [t.name for t in s.trash()] == ["gone"]
    s.create("gone")  # the name is free again
    assert s.restore("gone") == "gone-restored"
    assert [m.content for m in s.messages("gone-restored")] == ["0", "1", "2"]
    s.close()


def test_sqlite_list_order_with_controlled_clock(tmp_path: Path) -> None:
    now = [1000.0]
    s = SQLiteStore(_sqlite_path(tmp_path), clock=lambda: now[0])
    try:
        for name in ("a", "b", "c"):
            now[0] += 1
            s.create(name)
        assert [t.name for t in s.list_threads()] == ["c", "b", "a"]
        now[0] += 1
        s.append("a", Message("user", "x"))
        infos = s.list_threads()
        assert [t.name for t in infos] == ["a", "c", "b"]
        assert infos[0].updated_at == now[0] and infos[0].created_at == 1001.0
    finally:
        s.close()


# -- the file primitives (repl/files.py) ------------------------------------------------------


def test_quarantine_never_overwrites_an_earlier_damaged_copy(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    stamps = {time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() + d)) for d in (0, 1)}
    for stamp in stamps:  # earlier copies under the names this second (or the next) would get
        (tmp_path / f"t.json.damaged-{stamp}").write_text("earlier")
    path.write_text("damaged now")
    aside = files.quarantine(path)
    assert aside.read_text() == "damaged now" and not path.exists()
    assert all((tmp_path / f"t.json.damaged-{s}").read_text() == "earlier" for s in stamps)


def test_atomic_write_is_private_and_exclusive_when_asked(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        (tmp_path / "out").mkdir()
        path = tmp_path / "out" / "rescue.json"
        files.atomic_write(path, b"first", exclusive=True)
        with pytest.raises(FileExistsError):
            files.atomic_write(path, b"second", exclusive=True)
        assert path.read_bytes() == b"first" and _mode(path) == 0o600
        files.atomic_write(path, b"third")
        assert path.read_bytes() == b"third" and _mode(path) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["rescue.json"]  # no temporary left
    finally:
        os.umask(old)

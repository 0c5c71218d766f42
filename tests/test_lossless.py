"""Lossless threads: every store keeps the whole API message (parts, tool calls, names, unknown
keys, reasoning), opens what today's schema wrote with nothing lost, and --copy-store and the
never-lose buffer keep it all."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest
import redis
from fakeserver import FakeOpenAI, RawSSE, Reply
from harness import Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stores import BACKENDS, WHOLE, redis_url, store_size, stored_bytes, thread_file

from repl import window
from repl.errors import StoreError
from repl.importers import parse
from repl.store import migrations, recover
from repl.store.buffered import BufferedStore
from repl.store.copy import copy_store
from repl.store.jsonfiles import JSONStore
from repl.store.redis import RedisStore
from repl.store.sqlite import SQLiteStore
from repl.thread import Message
from repl.transfer import export_text, import_file

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
    doc = thread_file(folder / "old.json")
    assert doc["format"] == 3  # JSON Lines now; a newer chatrepl's format is refused
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


# -- attachment bytes once per content hash ---------------------------------------------------


def png(size: int, seed: int = 0, width: int = 1024, height: int = 768) -> bytes:
    """A PNG's signature and header, then ``size`` bytes in all of incompressible noise."""
    head = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", width, height)
    return head + random.Random(seed).randbytes(size - len(head))


def image_message(raw: bytes, text: str = "what is this?") -> Message:
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    return Message("user", text, parts=({"type": "text", "text": text},
                                        {"type": "image_url", "image_url": {"url": url}}))


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_same_image_in_ten_messages_is_stored_once(backend: str, tmp_path: Path) -> None:
    s = BACKENDS[backend](tmp_path)
    s.create("t")
    s.close()
    before = store_size(backend, tmp_path)
    raw = png(1 << 20)
    s = BACKENDS[backend](tmp_path)
    for i in range(10):
        s.append("t", image_message(raw, f"look {i}"))
        s.append("t", Message("assistant", f"a cat {i}"))
    stored = s.messages("t")
    sent = s.expand([m.for_api() for m in stored])
    s.close()
    grown = store_size(backend, tmp_path) - before
    assert (1 << 20) <= grown < 1.3 * (1 << 20), grown  # ten inline copies: 14 MB
    ref = stored[0].parts[1]["image_url"]["url"] if stored[0].parts else ""
    assert ref.startswith("chatrepl-blob:") and ":1024x768:" in ref and len(ref) < 200
    assert sent == [m.for_api() for m in [image_message(raw, f"look {i // 2}") if i % 2 == 0
                                          else Message("assistant", f"a cat {i // 2}")
                                          for i in range(20)]]


def test_reading_a_thread_never_reads_attachment_bytes(backend: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    s = BACKENDS[backend](tmp_path)
    s.create("t")
    s.append_many("t", [image_message(png(200_000, i)) for i in range(3)])
    read: list[str] = []
    real = s._blob  # type: ignore[attr-defined]
    monkeypatch.setattr(s, "_blob", lambda sha: read.append(sha) or real(sha))
    assert len(s.messages("t", last=2)) == 2 and len(s.messages("t", hidden=True)) == 3
    assert s.search("what")
    s.fork("t", "t2")
    s.hide("t2", [s.messages("t2")[0].id or 0], "undone")
    assert read == []
    sent = s.expand([m.for_api() for m in s.messages("t2")])
    assert len(read) == 2 and sent == [image_message(png(200_000, i)).for_api() for i in (1, 2)]
    s.close()


def test_erase_deletes_the_bytes_no_other_message_uses(backend: str, tmp_path: Path) -> None:
    raw, other = png(50_000, 1), png(50_000, 2)
    s = BACKENDS[backend](tmp_path)
    s.create("a")
    s.create("b")
    [first] = s.append_many("a", [image_message(raw)])
    [second, kept] = s.append_many("b", [image_message(raw), image_message(other)])
    s.erase("a", [first.id or 0])
    assert s.expand([second.for_api()]) == [image_message(raw).for_api()]  # b still uses it
    s.erase("b", [second.id or 0])
    with pytest.raises(StoreError, match="lacks an attachment"):
        s.expand([second.for_api()])
    assert s.expand([kept.for_api()]) == [image_message(other).for_api()]
    s.delete("b")
    s.purge("b")
    s.close()
    everything = stored_bytes(backend, tmp_path)
    for gone in (raw, other):
        assert gone[100:400] not in everything
        assert base64.b64encode(gone)[100:400] not in everything


def test_the_request_carries_the_attachment_bytes_back(api_env: dict[str, str],
                                                       server: FakeOpenAI) -> None:
    raw = png(300_000, 7)

    async def go() -> None:
        s = await Session().start("pics")
        s.store.append("pics", image_message(raw))  # as /attach will store it
        s.store.append("pics", Message("assistant", "a cat"))
        await s.line("and its colour?")
        first = server.sent_messages()[0]
        url = first["content"][1]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.removeprefix("data:image/png;base64,")) == raw
        assert first == image_message(raw).for_api()
        assert [m["content"] for m in server.sent_messages()[1:]] == ["a cat", "and its colour?"]
        await s.quit()

    asyncio.run(go())


def test_a_damaged_sqlite_store_recovers_whole_messages_and_their_bytes(tmp_path: Path) -> None:
    path = tmp_path / "chatrepl.db"
    raw = png(100_000, 3)
    s = SQLiteStore(path)
    s.create("t")
    s.append_many("t", [*WHOLE, image_message(raw)])
    s.append_many("t", [Message("user", f"filler {i:04} " + "x" * 200) for i in range(400)])
    s.close()
    data = bytearray(path.read_bytes())
    page = data.index(b"filler 0300 ") // 4096 * 4096
    data[page:page + 4096] = bytes(4096)  # a page of messages zeroed
    path.write_bytes(bytes(data))
    recover.marker(path).touch()  # as a read that met the damage leaves it
    s = SQLiteStore(path)
    assert s.recovered is not None
    back = s.messages("t")
    assert [m.for_api() for m in back[:4]] == [m.for_api() for m in WHOLE]
    assert [m.reasoning for m in back[:4]] == [m.reasoning for m in WHOLE]
    assert s.expand([back[4].for_api()]) == [image_message(raw).for_api()]
    s.close()


# -- import then export is the identity -------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
_json = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | _text,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=6)
_data_url = st.binary(min_size=1, max_size=300).map(
    lambda b: "data:image/png;base64," + base64.b64encode(b).decode())
_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, _text),
    st.builds(lambda u, d: {"type": "image_url", "image_url": {"url": u, "detail": d}},
              _data_url | st.just("https://example.com/a.png"), st.sampled_from(["low", "auto"])),
    st.builds(lambda d, n: {"type": "file", "file": {"file_data": d, "filename": n}},
              _data_url.map(lambda u: u.replace("image/png", "application/pdf")), _text),
    st.builds(lambda b: {"type": "input_audio", "input_audio": {
        "data": base64.b64encode(b).decode(), "format": "wav"}}, st.binary(max_size=100)),
    st.dictionaries(_text, _json, max_size=2).map(lambda d: {**d, "type": "x-unknown"}),
)
_keys = _text.filter(lambda k: k not in ("role", "content", "chatrepl"))
_api_message = st.builds(
    lambda role, content, extra: {"role": role, "content": content, **extra},
    st.sampled_from(["user", "assistant", "tool", "developer", "system", "function"]),
    _text | st.lists(_part, min_size=1, max_size=4) | st.none(),
    st.dictionaries(_keys, _json, max_size=3),
).filter(lambda m: m["content"] is not None or m.get("tool_calls"))  # else no API takes it
_counter = itertools.count()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=st.lists(_api_message, min_size=1, max_size=6))
def test_property_import_then_export_is_the_identity(backend: str, tmp_path: Path,
                                                     array: list[dict[str, Any]]) -> None:
    n = next(_counter)
    store = BufferedStore(BACKENDS[backend](tmp_path / f"s{n}"))
    path = tmp_path / f"a{n}.json"
    path.write_text(json.dumps(array))
    import_file(store, str(path), name="t")
    text, _ = export_text(store, "t", "json")
    store.close()
    assert json.loads(text) == array


def test_markdown_lists_attachments_and_shows_tool_calls_as_json(tmp_path: Path) -> None:
    raw = png(2_000, 5)
    store = BufferedStore(BACKENDS["sqlite"](tmp_path))
    store.create("t")
    call = {"id": "call_9", "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "cats"}'}}
    pdf = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.7 tiny").decode()
    store.append_many("t", [
        Message("user", "see", parts=(
            {"type": "text", "text": "see"}, image_message(raw).parts[1],  # type: ignore[index]
            {"type": "file", "file": {"filename": "report.pdf", "file_data": pdf}})),
        Message("assistant", "", fields={"tool_calls": [call]}),
        Message("tool", "3 cats", fields={"tool_call_id": "call_9"}),
        Message("assistant", "There are 3 cats."),
    ])
    text, _ = export_text(store, "t", "md")
    assert "- image (image/png, 2,000 bytes)\n- report.pdf (application/pdf, 13 bytes)\n" in text
    assert '```json\n{\n  "tool_calls": [\n    {\n      "id": "call_9",' in text
    assert '```json\n{\n  "tool_call_id": "call_9"\n}\n```' in text
    assert raw[:50] not in text.encode() and "base64," not in text  # names, never bytes
    [back] = parse(text)
    assert [(m.role, m.content, dict(m.fields)) for m in back.messages] == [
        ("user", "see", {}), ("assistant", "", {"tool_calls": [call]}),
        ("tool", "3 cats", {"tool_call_id": "call_9"}), ("assistant", "There are 3 cats.", {})]
    store.close()


# -- streamed tool calls and reasoning --------------------------------------------------------


def test_a_streamed_tool_call_is_stored_answered_and_the_thread_goes_on(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    calls = [("call_a", "get_weather", '{"city": "Zürich", "month": 3}'),
             ("call_b", "get_time", '{"tz": "Europe/Zurich"}')]

    async def go() -> None:
        s = await Session().start("tools")
        server.queue(Reply("", tool_calls=calls, finish="tool_calls"))
        await s.line("weather and time?")
        stored = s.store.messages("tools")
        assert [m.role for m in stored] == ["user", "assistant", "tool", "tool"]
        assert stored[1].fields["tool_calls"] == [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls]
        assert stored[1].status is None
        await s.line("never mind")
        sent = server.sent_messages()
        assert sent[1] == {"role": "assistant", "content": "",
                           "tool_calls": stored[1].fields["tool_calls"]}
        assert [(m["role"], m.get("tool_call_id")) for m in sent[2:4]] == [
            ("tool", "call_a"), ("tool", "call_b")]
        assert "not run" in sent[2]["content"]
        assert sent[4] == {"role": "user", "content": "never mind"}
        await s.quit()

    asyncio.run(go())


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "think"])
def test_reasoning_is_stored_shown_collapsed_and_never_sent(api_env: dict[str, str],
                                                           server: FakeOpenAI, key: str) -> None:
    thinking = "The user asks 2+2. That is 4."

    async def go() -> None:
        s = await Session().start("r")
        if key == "think":
            server.queue(Reply(f"<think>{thinking}</think>\n\nIt is 4."))
        else:
            server.queue(Reply("It is 4.", reasoning=thinking, reasoning_key=key))
        await s.line("2+2?")
        [_, answer] = s.store.messages("r")
        assert (answer.content, answer.reasoning) == ("It is 4.", thinking)
        await s.line("thanks")
        assert server.sent_messages()[1] == {"role": "assistant", "content": "It is 4."}
        assert "reasoning" not in json.dumps(server.requests[-1])
        out = await s.line("/history")
        assert f"▸ reasoning ({len(thinking)} characters; /reasoning prints it)" in out
        assert thinking not in out
        await s.quit()
        s = await Session().start("r")  # the turns shown on open
        assert f"▸ reasoning ({len(thinking)} characters; /reasoning prints it)" in s.text
        await s.quit()

    asyncio.run(go())


# -- the context estimate and search ----------------------------------------------------------


def test_the_estimate_counts_images_by_their_tiles_and_files_by_their_size(
        tmp_path: Path) -> None:
    tall = image_message(png(3_000, 1, width=2048, height=4096))
    # 2048x4096 -> 1024x2048 -> 768x1536: 2 x 3 tiles of 512
    assert window.estimate(tall.for_api()) == 6 * 170 + 85 + len("what is this?") // 4 + 4
    s = BACKENDS["sqlite"](tmp_path)
    s.create("t")
    [stored] = s.append_many("t", [tall])
    assert window.estimate(stored.for_api()) == window.estimate(tall.for_api())  # no bytes read
    s.close()
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}
    low = {"type": "image_url", "image_url": {"url": "https://example.com/x.png",
                                              "detail": "low"}}
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;"
                                    "base64," + base64.b64encode(bytes(80_000)).decode()}}
    assert window.estimate({"role": "user", "content": [remote]}) == 765 + 4
    assert window.estimate({"role": "user", "content": [low]}) == 85 + 4
    assert window.estimate({"role": "user", "content": [pdf]}) == 10_000 + 4
    calls = {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {
        "name": "f", "arguments": "x" * 400}}]}
    assert window.estimate(calls) > 100  # tool calls count too


def test_search_finds_text_parts_and_attachment_names(backend: str, tmp_path: Path) -> None:
    s = BACKENDS[backend](tmp_path)
    s.create("t")
    pdf = "data:application/pdf;base64," + base64.b64encode(b"%PDF").decode()
    s.append_many("t", [Message("user", "look at this", parts=(
        {"type": "text", "text": "look at this"},
        {"type": "file", "file": {"filename": "quarterly-report.pdf", "file_data": pdf}}))])
    assert [h.thread for h in s.search("look")] == ["t"]
    assert [h.thread for h in s.search("quarterly")] == ["t"]
    s.close()


def test_compact_sends_the_attachment_bytes_too(api_env: dict[str, str],
                                                server: FakeOpenAI) -> None:
    raw = png(10_000, 11)

    async def go() -> None:
        s = await Session().start("c")
        s.store.append_many("c", [image_message(raw), Message("assistant", "a cat"),
                                  Message("user", "q2"), Message("assistant", "a2")])
        server.queue(Reply("We looked at a cat."))
        await s.line("/compact 1")
        assert server.sent_messages()[1] == image_message(raw).for_api()  # after the system
        await s.quit()

    asyncio.run(go())


def test_a_fork_keeps_the_bytes_its_source_erased(backend: str, tmp_path: Path) -> None:
    raw = png(20_000, 13)
    s = BACKENDS[backend](tmp_path)
    s.create("a")
    [first] = s.append_many("a", [image_message(raw)])
    s.fork("a", "b")
    s.erase("a", [first.id or 0])
    [copy] = s.messages("b")
    assert s.expand([copy.for_api()]) == [image_message(raw).for_api()]
    s.close()


def test_tool_calls_and_results_are_shown_collapsed_and_clean() -> None:
    import io

    from rich.console import Console

    from repl.render import UI

    out = io.StringIO()
    ui = UI(Console(file=out, width=60, color_system=None))
    arguments = '{"a": 2, "b": "' + "x" * 100 + '\x1b[31m"}'
    call = {"id": "c1", "type": "function",
            "function": {"name": "calc.add", "arguments": arguments}}
    ui.message(Message("assistant", "", fields={"tool_calls": [call]}))
    ui.message(Message("tool", "not run\nline 2\nline 3\nline 4\nline 5",
                       fields={"tool_call_id": "c1"}))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('⚙ calc.add {"a": 2') and len(lines[0]) <= 60
    assert "summary" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert "tool: not run" in out.getvalue() and "line 3 … (2 more lines)" in out.getvalue()
    assert "line 4" not in out.getvalue()


def test_a_tool_call_cut_short_is_kept_answered_and_the_thread_goes_on(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    def data(delta: dict[str, object]) -> str:
        return "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m",
                                      "choices": [{"index": 0, "delta": delta,
                                                   "finish_reason": None}]}) + "\n\n"

    body = (data({"role": "assistant", "content": None, "tool_calls": [{
        "index": 0, "id": "call_x", "type": "function",
        "function": {"name": "search", "arguments": '{"q": "zur'}}]})).encode()

    async def go() -> None:
        s = await Session().start("cut")
        server.queue(RawSSE(body))  # the stream ends mid-arguments: no finish, no [DONE]
        out = await s.line("find zurich")
        assert "truncated" in out
        _, answer, result = s.store.messages("cut")
        assert answer.status == "truncated" and answer.fields["tool_calls"] == [
            {"id": "call_x", "type": "function",
             "function": {"name": "search", "arguments": '{"q": "zur'}}]  # as it arrived
        assert result.fields == {"tool_call_id": "call_x"} and "cut short" in result.content
        await s.line("go on")
        sent = server.sent_messages()
        assert [(m["role"], m.get("tool_call_id")) for m in sent] == [
            ("user", None), ("assistant", None), ("tool", "call_x"), ("user", None)]
        await s.quit()

    asyncio.run(go())

"""Issue 20, a daily user's defects: the requests -p/-m and /detach make, attachments as first
class outside the request (search, exports, imports, names), and lines that confused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeserver import Failure, FakeOpenAI, Reply
from harness import Session, write_config

from repl.thread import Message

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def run(coro: Any) -> None:
    asyncio.run(coro)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory the REPL runs in."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# -- item 17: a retryable error offers to try again once ------------------------------------


def test_a_retryable_error_offers_retry_once(api_env: dict[str, str],
                                             server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(503, {"error": {"message": "overloaded"}}))
        out = await s.line("first question")
        [line] = [x for x in out.splitlines() if x.startswith("error:")]
        assert line.endswith("; /retry sends it again"), line
        assert "try again" not in line
        server.queue(Failure(429, {"error": {"message": "slow down"}}, {"retry-after": "3"}))
        out = await s.line("/retry")
        [line] = [x for x in out.splitlines() if x.startswith("error:")]
        assert line.endswith("; wait 3 s, then /retry sends it again"), line
        await s.quit()

    run(go())


# -- item 1: -m wins over a preset's model and endpoint -------------------------------------

LOCAL_KEY = "sk-local-key-456"


def chatrepl(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repl", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def poet(isolated: dict[str, str], other: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    write_config(isolated, f'[endpoints.local]\nbase_url = "{other.url}"\n'
                 'api_key_env = "LOCAL_KEY"\n[presets.poet]\nsystem = "Answer in verse."\n'
                 'model = "local:bard"\ntemperature = 0.9\n')


def test_m_wins_over_the_presets_model_in_one_shot(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    poet(isolated, other, monkeypatch)
    done = chatrepl(dict(os.environ), tmp_path, "-t", "t", "-p", "poet", "-m", "gpt-x", "hi")
    assert done.returncode == 0, done.stderr
    assert not other.requests  # the preset's endpoint is not the run's
    body = server.requests[-1]
    assert body["model"] == "gpt-x" and body["temperature"] == 0.9  # the preset's settings
    assert body["messages"][0] == {"role": "system", "content": "Answer in verse."}
    assert "-m gpt-x for this run" in done.stderr


def test_m_wins_over_the_presets_model_in_the_repl(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    poet(isolated, other, monkeypatch)

    async def go() -> None:
        s = await Session(model="gpt-x").start("t", preset="poet")
        assert "gpt-x" in s.app._toolbar()
        await s.line("hello")
        assert not other.requests and server.requests[-1]["model"] == "gpt-x"
        assert server.requests[-1]["messages"][0]["content"] == "Answer in verse."
        await s.line("/preset poet")  # chosen later, in the REPL: the preset's model now
        await s.line("again")
        assert other.requests[-1]["model"] == "bard"
        await s.quit()

    run(go())


# -- item 2: /detach takes what /attach took; two notes.txt are told apart -------------------


def test_detach_takes_a_path_or_a_unique_name_and_two_names_are_told_apart(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    for folder in ("a", "b"):
        (work / folder).mkdir()
        (work / folder / "notes.txt").write_text(f"notes of {folder}\n")
    (work / "c").mkdir()
    (work / "c" / "notes.txt").write_text("notes of c\n")
    (work / "cat.png").write_bytes(PNG)

    async def go() -> None:
        s = await Session().start("t")
        out = await s.line("/attach a/notes.txt b/notes.txt c/notes.txt cat.png")
        assert [line for line in attached_lines(out) if "notes" in line] == [
            "📎 a/notes.txt · text · 11 B", "📎 b/notes.txt · text · 11 B",
            "📎 c/notes.txt · text · 11 B"]  # by the names they are sent by, each
        assert "c/notes.txt is already attached" in await s.line("/attach c/notes.txt")
        out = await s.line("/detach notes.txt")  # three have that name: none is dropped
        assert "error: notes.txt names 3 attached files (a/notes.txt, b/notes.txt, " \
               "c/notes.txt)" in out
        assert len(s.ctx.staged) == 4
        out = await s.line("/detach c/notes.txt")  # the path /attach took: that one only
        assert "detached 1 file; 3 files still attached" in out
        assert s.ctx.staged == [work / "a" / "notes.txt", work / "b" / "notes.txt",
                                work / "cat.png"]
        await s.line(f"/detach {work / 'cat.png'}")
        out = await s.line("/attach")
        assert "📎 a/notes.txt · text" in out and "📎 b/notes.txt · text" in out
        await s.line("what do they say?")
        sent = server.sent_content()  # all text: one string (the parts joined)
        assert [line for line in sent.split("\n") if line.startswith("<file")] == [
            '<file name="a/notes.txt">', '<file name="b/notes.txt">']
        await s.quit()

    run(go())


def test_a_second_file_of_one_name_says_the_first_ones_name_changed(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    """Found by the audit: the first notes.txt was shown as notes.txt, then the next /attach
    showed it as a/notes.txt, unsaid."""
    for folder in ("a", "b"):
        (work / folder).mkdir()
        (work / folder / "notes.txt").write_text(f"notes of {folder}\n")

    async def go() -> None:
        s = await Session().start("t")
        assert "📎 notes.txt · text" in await s.line("/attach a/notes.txt")
        out = await s.line("/attach b/notes.txt")
        assert attached_lines(out) == ["📎 b/notes.txt · text · 11 B"]
        assert "notes.txt (attached before) is now a/notes.txt, to tell it apart" in out
        assert attached_lines(await s.line("/attach")) == [
            "📎 a/notes.txt · text · 11 B", "📎 b/notes.txt · text · 11 B"]
        await s.quit()

    run(go())


# -- item 12: /detach's Tab quotes a name with spaces ----------------------------------------


def test_detach_completion_quotes_names_with_spaces(api_env: dict[str, str], work: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from repl.completion import CommandCompleter

    (work / "my photo.png").write_bytes(PNG)
    (work / "cat.png").write_bytes(PNG)

    async def go() -> None:
        s = await Session().start("t")
        await s.line('/attach "my photo.png" cat.png')
        completer = CommandCompleter(s.ctx)

        async def complete(text: str) -> list[str]:
            found = completer.get_completions_async(Document(text), CompleteEvent())
            return [c.text async for c in found]

        assert await complete("/detach my") == ['"my photo.png"']
        assert await complete('/detach "my') == ['"my photo.png"']
        assert await complete("/detach cat.png m") == ['"my photo.png"']
        assert await complete("/detach ") == ['"my photo.png"', "cat.png"]
        out = await s.line('/detach "my photo.png"')
        assert "detached 1 file; 1 file still attached" in out
        await s.quit()

    run(go())


# -- items 10, 11: -a is checked at start; a refused one-shot makes no thread ----------------


def test_a_missing_attachment_is_said_at_start_of_the_repl(api_env: dict[str, str],
                                                           work: Path) -> None:
    (work / "cat.png").write_bytes(PNG)

    async def go() -> None:
        s = Session()
        await s.start("t", attach=(work / "missing.png", work / "cat.png"))
        assert f"error: {work / 'missing.png'}: no such file; not attached" in s.text
        assert "📎 cat.png · image/png" in s.text
        assert s.ctx.staged == [work / "cat.png"]
        await s.quit()

    run(go())


def test_a_one_shot_with_a_refused_attachment_makes_no_thread(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    first = chatrepl(api_env, work, "-t", "kept", "hello")
    assert first.returncode == 0, first.stderr
    done = chatrepl(api_env, work, "-t", "new one", "-a", "missing.png", "what is this?")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"chatrepl: {work / 'missing.png'}: no such file; nothing was sent"]
    listed = chatrepl(api_env, work, "--list")
    assert "new one" not in listed.stdout and "* kept" in listed.stdout
    assert len(server.requests) == 1


# -- item 13: an auto-title shows in the bar at once, and its line names both ----------------


def test_an_auto_title_is_in_the_bar_at_once_and_names_both(api_env: dict[str, str],
                                                            server: FakeOpenAI) -> None:
    server.queue(Reply("Knead it well."), Reply("Bread at home"))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/new")
        dated = s.ctx.thread.name
        await s.line("how do I bake bread?")
        await s.until(lambda: "is now" in s.text)
        assert f"thread {dated!r} is now 'Bread at home'" in s.text
        bar = s.bar()  # the prompt on screen, no line typed since
        assert bar.startswith(" Bread at home · "), bar
        await s.quit()

    run(go())


# -- items 3, 4, 5, 6, 7: attachments outside the request ------------------------------------

NOTES = "proofing takes patience\n```\nbackticks inside\n"


@pytest.fixture
def files(work: Path) -> Path:
    (work / "notes.txt").write_text(NOTES, encoding="utf-8")
    (work / "cat.png").write_bytes(PNG)
    (work / "kitten.png").write_bytes(PNG)  # the same bytes, another name
    return work


async def attached_question(s: Session, server: FakeOpenAI) -> None:
    await s.line("/attach notes.txt cat.png kitten.png")
    server.queue(Reply("notes and two cats"))
    await s.line("what are these?")


def attached_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if "📎" in line]


def test_a_text_file_is_searched_in_the_thread_that_attached_it(
        api_env: dict[str, str], server: FakeOpenAI, files: Path, backend: str,
        tmp_path: Path) -> None:
    from stores import BACKENDS

    from repl.store import buffered

    async def go() -> None:
        s = await Session().start("bread")
        await s.line("/attach notes.txt")
        await s.line("read this")
        out = await s.line("/search patience")
        assert "bread · turn 1 · you" in out, out
        assert "bread" in await s.line("/search notes.txt")
        await s.quit()

    run(go())
    done = chatrepl(api_env, files, "--search", "proofing")
    assert done.returncode == 0 and done.stdout.startswith("bread\tturn 1\tuser\t"), done
    # every store, through its contract
    from repl import attachments

    store = buffered.BufferedStore(BACKENDS[backend](tmp_path / "s"))
    store.create("t")
    part = attachments.make_part("recipe.txt", attachments.TEXT, b"sourdough starter\n")
    store.append("t", Message("user", "look", parts=({"type": "text", "text": "look"}, part)))
    assert [h.thread for h in store.search("sourdough")] == ["t"]
    assert [h.thread for h in store.search("recipe")] == ["t"]
    # the snippet shows the match, in the attachment (SQLite's FTS5 snippet read the text only)
    from repl.thread import HIGHLIGHT

    for query, word in (("sourdough", "sourdough"), ("recipe", "recipe"), ("sta", "starter")):
        [hit] = store.search(query)
        assert f"{HIGHLIGHT[0]}{word}{HIGHLIGHT[1]}" in hit.snippet, (query, hit.snippet)
    store.append("t", Message("user", "見て", parts=(
        {"type": "text", "text": "見て"},
        attachments.make_part("日記.txt", attachments.TEXT, "今日はいい天気ですね".encode()))))
    [hit] = store.search("天気")  # a script without spaces: found in the attachment too
    assert "天気" in hit.snippet and HIGHLIGHT[0] in hit.snippet
    store.close()


@pytest.fixture(params=["sqlite", "json", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_markdown_export_names_each_attachment_and_holds_a_text_file(
        api_env: dict[str, str], server: FakeOpenAI, files: Path) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await attached_question(s, server)
        await s.line(f"/export {files / 't.md'}")
        await s.quit()

    run(go())
    text = (files / "t.md").read_text()
    assert "- notes.txt (text, 45 bytes)\n- cat.png (image/png, 1,032 bytes)\n" \
           "- kitten.png (image/png, 1,032 bytes)\n" in text
    assert "<details><summary>notes.txt</summary>\n\n````text\n" + NOTES + "\n````\n\n" \
           "</details>" in text


def test_a_markdown_export_imports_back_what_it_holds(
        api_env: dict[str, str], server: FakeOpenAI, files: Path) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await attached_question(s, server)
        await s.line(f"/export {files / 't.md'}")
        out = await s.line(f"/import {files / 't.md'}")
        assert "left out: 2 image parts" in out, out
        await s.line("/switch t-2")
        out = await s.line("/history")
        assert attached_lines(out) == [
            "📎 notes.txt · text · 45 B",
            "📎 cat.png · image/png, 1,032 bytes · not in the export",
            "📎 kitten.png · image/png, 1,032 bytes · not in the export"]
        assert "proofing" not in out  # an attachment, not typed text
        await s.line("and now?")
        await s.quit()

    run(go())
    question = server.requests[-1]["messages"][0]["content"]  # all text: one string
    assert question == (f'what are these?\n\n<file name="notes.txt">\n{NOTES}\n</file>\n\n'
                        "[image not in the export: cat.png]\n\n"
                        "[image not in the export: kitten.png]")


def test_a_json_export_imports_back_its_attachments_as_attachments(
        api_env: dict[str, str], server: FakeOpenAI, files: Path) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await attached_question(s, server)
        before = attached_lines(await s.line("/history"))
        hits = await s.line("/search kitten")
        await s.line(f"/export {files / 't.json'}")
        await s.line("/rename original")  # else the import finds it already there
        await s.line(f"/import {files / 't.json'}")
        await s.line("/switch t")
        out = await s.line("/history")
        assert attached_lines(out) == before == [
            "📎 notes.txt · text · 45 B", "📎 cat.png · image/png · 1 KB",
            "📎 kitten.png · image/png · 1 KB"]
        assert "proofing" not in out  # the file's text is not shown as typed
        [question] = [m for m in s.store.messages("t") if m.role == "user"]
        assert question.content == "what are these?"
        again = await s.line("/search kitten")
        assert again.count("turn 1 · you") == 2 == hits.count("turn 1 · you") + 1
        await s.quit()

    run(go())
    exported = json.loads((files / "t.json").read_text())
    assert [p.get("chatrepl") for p in exported[0]["content"]] == [
        None, {"file": "notes.txt"}, {"file": "cat.png"}, {"file": "kitten.png"}]
    for request in server.requests:  # the names are chatrepl's: never sent
        for message in request["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else []:
                assert "chatrepl" not in part


def test_two_images_of_the_same_bytes_keep_their_own_names(
        api_env: dict[str, str], server: FakeOpenAI, files: Path) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("/attach cat.png kitten.png")
        await s.line("twins?")
        out = await s.line("/history")
        assert attached_lines(out) == ["📎 cat.png · image/png · 1 KB",
                                       "📎 kitten.png · image/png · 1 KB"]
        assert "turn 1 · you" in await s.line("/search cat.png")
        assert "turn 1 · you" in await s.line("/search kitten.png")
        await s.line(f"/export {files / 't.md'}")
        await s.quit()

    run(go())
    text = (files / "t.md").read_text()
    assert "- cat.png (image/png" in text and "- kitten.png (image/png" in text


# -- item 14: /edit's live view shows the attachments the question keeps ---------------------


def test_edit_shows_the_attachments_the_question_keeps(api_env: dict[str, str],
                                                       server: FakeOpenAI, files: Path) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("/attach notes.txt cat.png")
        await s.line("what is this?")
        s.pipe.send_text("/edit\r")
        await s.wait_prompt()
        before = len(s.text)
        s.pipe.send_text(" now?\r")
        await s.wait_prompt()
        out = s.text[before:]
        assert attached_lines(out) == ["📎 notes.txt · text · 45 B",
                                       "📎 cat.png · image/png · 1 KB"], out
        await s.quit()

    run(go())
    assert len(server.requests[-1]["messages"][0]["content"]) == 3


# -- item 18: messages no API takes are left out, and said ----------------------------------


def test_messages_no_api_takes_are_left_out_and_a_file_of_only_those_refused(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path) -> None:
    bad = tmp_path / "odd.json"
    bad.write_text(json.dumps([{"role": "oracle", "content": "hm"}, {"role": "user"}]))
    done = chatrepl(api_env, tmp_path, "--import", str(bad))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "chatrepl: odd.json has nothing chatrepl can import (left out: 1 message with an "
        "unknown role, 1 message without content)"]
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([{"role": "oracle", "content": "hm"}, {"role": "user"},
                                 {"role": "user", "content": None},
                                 {"role": "user", "content": "hello"},
                                 {"role": "assistant", "content": None,
                                  "tool_calls": [{"id": "c", "type": "function",
                                                  "function": {"name": "f",
                                                               "arguments": "{}"}}]},
                                 {"role": "tool", "tool_call_id": "c", "content": "ok"}]))
    done = chatrepl(api_env, tmp_path, "--import", str(mixed))
    assert done.returncode == 0, done.stderr
    assert "left out: 1 message with an unknown role, 2 messages without content" \
        in done.stderr
    done = chatrepl(api_env, tmp_path, "-t", "mixed", "go on")
    assert done.returncode == 0, done.stderr
    assert [m["role"] for m in server.requests[-1]["messages"]] == [
        "user", "assistant", "tool", "user"]


# -- the SQLite store's index of older messages -----------------------------------------------


def test_an_older_sqlite_store_finds_its_text_files_after_the_migration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from repl import attachments
    from repl.store import migrations
    from repl.store.sqlite import SQLiteStore

    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        # as released before 009 (with 010's column, which today's code writes)
        m.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS[:8],
                                             migrations.MIGRATIONS[9]])
        old = SQLiteStore(path)
        old.create("t")
        part = attachments.make_part("recipe.txt", attachments.TEXT, b"sourdough starter\n")
        stored = Message("user", "look", parts=({"type": "text", "text": "look"}, part))
        old.append("t", stored)
        old._db.execute("UPDATE messages SET names = NULL")  # as 007 indexed it: no names
        old._db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
        assert old.search("sourdough") == []
        old.close()
    store = SQLiteStore(path)
    assert [h.thread for h in store.search("sourdough")] == ["t"]
    assert [h.thread for h in store.search("recipe")] == ["t"]
    store.erase("t", [m.id or 0 for m in store.messages("t")])  # the index stays consistent
    assert store.search("sourdough") == [] and store.search("look") == []
    store.close()


def test_attach_takes_globs_and_the_home_directory(api_env: dict[str, str], server: FakeOpenAI,
                                                    isolated: dict[str, str],
                                                    tmp_path: Path) -> None:
    shots = tmp_path / "files"
    shots.mkdir()
    for name in ("b.png", "a.png"):
        (shots / name).write_bytes(PNG)
    (shots / "notes.txt").write_text("not a png\n")
    home = Path(isolated["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "todo.txt").write_text("buy bread\n")

    async def go() -> None:
        s = await Session().start("t")
        out = await s.line(f"/attach {shots}/*.png ~/todo.txt")
        assert s.ctx.staged == [shots / "a.png", shots / "b.png", home / "todo.txt"], out
        out = await s.line(f"/attach {shots}/*.gif")
        assert f"error: no file matches {shots}/*.gif" in out and len(s.ctx.staged) == 3
        await s.quit()

    run(go())

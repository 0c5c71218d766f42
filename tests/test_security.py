"""Hostile files: an import (or a thread file synced into a store) that names a path where a store
keeps its attachments' bytes never reads, sends, exports or deletes that path."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI
from harness import Session
from pty_session import Terminal
from stores import BACKENDS, redis_url

from repl import config as config_mod
from repl.export import to_json, to_markdown
from repl.importers import parse
from repl.store.blobs import BROKEN
from repl.store.buffered import BufferedStore
from repl.thread import PREFIX, Message, ThreadInfo, parse_ref
from repl.transfer import import_file

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for anyone's eyes"


def crafted(target: str) -> list[dict[str, object]]:
    """The audit's import: a message whose image names ``target`` instead of holding bytes."""
    url = f"{PREFIX}{target}:{len(SECRET)}:0x0:data:image/png;base64,"
    return [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                         {"type": "image_url", "image_url": {"url": url}}]},
            {"role": "assistant", "content": "ok"}]


def leaked(text: str | bytes) -> bool:
    raw = text.encode() if isinstance(text, str) else text
    return SECRET in raw or base64.b64encode(SECRET)[:40] in raw


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret"  # two levels above a JSON store's blobs/ folder (stores.py)
    path.write_bytes(SECRET)
    return path


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_an_imported_reference_is_left_out_and_never_touches_a_path(
        backend: str, how: str, tmp_path: Path, secret: Path) -> None:
    target = str(secret) if how == "absolute" else "../../secret"
    path = tmp_path / "crafted.json"
    path.write_text(json.dumps(crafted(target)))
    store = BufferedStore(BACKENDS[backend](tmp_path))
    report = import_file(store, str(path), "x")
    assert report.notes() == ["left out: 1 attachment naming stored bytes instead of holding "
                              "them"]
    [question, answer] = store.messages("x")
    assert question.for_api() == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    sent = store.expand([m.for_api() for m in store.messages("x")])
    info = store.get("x")
    assert info is not None
    assert not leaked(json.dumps(sent)) and not leaked(to_json(info, [question, answer],
                                                               expand=store.expand))
    store.erase("x", [question.id or 0])
    store.delete("x")
    store.purge("x")
    assert secret.read_bytes() == SECRET
    store.close()


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_reference_that_only_looks_like_one_is_never_resolved(
        backend: str, tmp_path: Path, secret: Path) -> None:
    """A thread file synced in from elsewhere holds what an import is refused: the store's read
    sends a note in its place, and erasing it deletes nothing outside the store."""
    store = BACKENDS[backend](tmp_path)
    store.create("t")
    parts = tuple(crafted(str(secret))[0]["content"])  # type: ignore[arg-type]
    [stored] = store.append_many("t", [Message("user", "hi", parts=parts)])
    [sent] = store.expand([stored.for_api()])
    assert sent["content"][1] == {"type": "text", "text": BROKEN}
    assert not leaked(json.dumps(sent))
    store.erase("t", [stored.id or 0])
    assert secret.read_bytes() == SECRET
    store.close()


@pytest.mark.parametrize("text", [
    f"{PREFIX}/etc/passwd:18:0x0:data:image/png;base64,",
    f"{PREFIX}../../x:18:0x0:",
    f"{PREFIX}{'A' * 64}:18:0x0:",  # upper case is not how a store names its bytes
    f"{PREFIX}{'a' * 63}:18:0x0:",
    f"{PREFIX}{'a' * 64}:-1:0x0:",
    f"{PREFIX}{'a' * 64}/../../x:18:0x0:",
    f"{PREFIX}{'a' * 64}:18:0x0:data:image/png;base64,\nmore",
])
def test_a_reference_is_64_hex_digits_and_nothing_else(text: str) -> None:
    assert parse_ref(text) is None
    assert parse_ref(f"{PREFIX}{'0f' * 32}:18:3x4:data:image/png;base64,") is not None


def test_markdown_details_never_replace_what_the_section_shows(tmp_path: Path,
                                                               secret: Path) -> None:
    """The Details of a markdown export carry a message's other keys (tool calls); never a role
    or a content of parts that the section, and /history, do not show."""
    info = ThreadInfo("t", created_at=0.0, updated_at=0.0)
    shown = Message("user", "what the reader sees",
                    fields={"role": "system", "content": crafted(str(secret))[0]["content"]})
    [thread] = parse(to_markdown(info, [shown], now=0.0))
    assert thread.messages[0].for_api() == {"role": "user", "content": "what the reader sees"}


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_keys_a_file_brought_are_kept_but_never_sent(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path, fmt: str) -> None:
    """Found by the audit: a markdown export's Details could carry {"content": null} under a
    question that /history shows ("two"), so every request sent a null question (refused), and
    keys never shown (a crafted "parts", "Content") were sent verbatim; a JSON file's keys no
    API takes (an id, a timestamp) made strict servers refuse the thread. A request sends what
    the message's role takes; the thread keeps the rest (an export gives it back)."""
    extra = {"parts": f"{PREFIX}/etc/passwd", "Content": "hidden", "id": "m1"}
    if fmt == "md":  # a JSON file cannot say both "two" and null
        extra = {"content": None, **extra}
    messages = [Message("user", "one"), Message("assistant", "echo: one"),
                Message("user", "two", fields=extra), Message("assistant", "echo: two")]
    info = ThreadInfo("t", created_at=0.0, updated_at=0.0)
    path = tmp_path / f"crafted.{fmt}"
    path.write_text(to_markdown(info, messages, now=0.0) if fmt == "md" else
                    json.dumps([{"role": m.role, "content": m.content, **m.fields}
                                for m in messages]))

    async def go() -> None:
        s = await Session().start("t")
        await s.line(f"/import {path} crafted")
        await s.line("/switch crafted")
        await s.line("three")
        sent = server.sent_messages()
        assert sent == [{"role": "user", "content": "one"},
                        {"role": "assistant", "content": "echo: one"},
                        {"role": "user", "content": "two"},
                        {"role": "assistant", "content": "echo: two"},
                        {"role": "user", "content": "three"}]
        await s.line(f"/export {tmp_path / 'back.json'}")
        await s.quit()

    asyncio.run(go())
    back = json.loads((tmp_path / "back.json").read_text())
    assert {k: v for k, v in back[2].items() if k != "chatrepl"} == {
        "role": "user", "content": "two", **extra}


def test_bidi_controls_being_edited_are_shown_never_written_raw(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    """Found by the audit: /edit of an imported question wrote U+202E and its kin raw to the
    terminal (E:‮gnp.exe‬ showed as E:exe.png), as a paste into the prompt would."""
    from test_tool_names import Screen

    screen = Screen()
    tricky = "open E:\u202egnp.exe\u202c now\u2066x\u2069\u200f\u061c\u2028end"

    async def go() -> None:
        s = await Session(output=screen.output).start("t")
        await s.line(tricky)  # typed (or pasted) at the main prompt
        await s.line("/edit", wait=False)  # the line editor, holding it
        await s.wait_prompt()
        await s.line(" again")  # the cursor at the end: text added after it
        assert [m["content"] for m in server.requests[-1]["messages"]] == [tricky + " again"]
        await s.quit()

    asyncio.run(go())
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028]", screen.text)
    assert "E:<U+202E>gnp.exe<U+202C>" in screen.text


def test_the_repl_import_says_what_it_left_out_and_sends_no_file(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path, secret: Path) -> None:
    path = tmp_path / "crafted.json"
    path.write_text(json.dumps(crafted(str(secret))))
    config = config_mod.load(store=f"json://{tmp_path / 'threads'}")

    async def go() -> None:
        s = await Session(config=config).start("t")
        out = await s.line(f"/import {path}")
        assert "left out: 1 attachment naming stored bytes" in out
        await s.line("/switch crafted")
        await s.line("and now?")
        assert not leaked(json.dumps(server.requests[-1]))
        await s.line("/erase 1", wait=False)
        await s.wait_prompt()
        await s.line("y")
        await s.quit()

    asyncio.run(go())
    assert secret.read_bytes() == SECRET



# == output, start-up and reading: items 6, 7, 8 and 14 ===========================================

ESCAPES = ("\x1b]52;c;ZXZpbA==\x07 \x1b]0;owned\x07 \x1bc "
           "\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\ \u202e")


def chatrepl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repl", *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["md", "json"])
def test_an_export_to_a_terminal_is_made_safe_and_to_a_pipe_stays_exact(
        api_env: dict[str, str], tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "escapes.json"
    path.write_text(json.dumps([{"role": "user", "content": "hi"},
                                {"role": "assistant", "content": f"look: {ESCAPES}"}]))
    assert chatrepl(api_env, "--import", str(path)).returncode == 0
    piped = chatrepl(api_env, "-t", "escapes", "--export", "-", "--format", fmt)
    assert "\x1b]52;c;" in piped.stdout if fmt == "md" else "\\u001b]52;c;" in piped.stdout
    term = Terminal(api_env, tmp_path, ["-t", "escapes", "--export", "-", "--format", fmt])
    term.wait_gone()
    assert term.exit_status() == 0
    assert "look:" in term.output
    assert "\x1b" not in term.output and "\u202e" not in term.output
    assert ("␛]52;c;" if fmt == "md" else "\\u001b]52;c;") in term.output
    assert "<U+202E>" in term.output


@pytest.mark.slow
@pytest.mark.parametrize("store", ["json", "redis"])
def test_a_store_elsewhere_on_a_machine_without_a_data_dir_starts(
        api_env: dict[str, str], tmp_path: Path, store: str) -> None:
    data_dir = Path(api_env["XDG_DATA_HOME"]) / "chatrepl"
    shutil.rmtree(api_env["XDG_DATA_HOME"])
    url = f"json://{tmp_path / 'threads'}" if store == "json" else redis_url()
    env = {**api_env, "CHATREPL_STORE": url}
    term = Terminal(env, tmp_path, ["-t", f"fresh-{uuid.uuid4().hex[:8]}"])
    term.wait_prompt()
    term.send("/quit\r")
    assert term.exit_status() == 0, term.text
    assert data_dir.is_dir() and data_dir.stat().st_mode & 0o777 == 0o700
    assert "Traceback" not in term.output


def test_an_import_nested_too_deeply_is_refused_in_one_line(api_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    for depth in (1_000, 100_000):
        path = tmp_path / f"deep{depth}.json"
        path.write_text('[{"role": "user", "content": "hi", "x": ' + "[" * depth + "]" * depth
                        + "}]")
        done = chatrepl(api_env, "--import", str(path))
        assert done.returncode == 1
        assert done.stderr.startswith(f"chatrepl: deep{depth}.json nests deeper than 64 levels")
        assert len(done.stderr.splitlines()) == 1
    assert "deep" not in chatrepl(api_env, "--list").stdout


def test_a_thread_that_cannot_be_read_never_stops_chatrepl_from_starting(
        api_env: dict[str, str], server: FakeOpenAI, data_dir: Path) -> None:
    """An older chatrepl stored what it cannot read back: that thread is one line, the REPL
    opens, and every other thread works."""
    async def setup() -> None:
        s = await Session().start("other")
        await s.line("hello")
        await s.line("/switch deep")
        await s.line("hi")
        await s.quit()

    asyncio.run(setup())
    with sqlite3.connect(data_dir / "chatrepl.db") as db:
        db.execute("UPDATE messages SET fields = ? WHERE content = 'hi'",
                   ("[" * 100_000 + "]" * 100_000,))
    db.close()

    async def go() -> None:
        s = await Session().start()  # the thread used last: "deep"
        assert "nests too deeply to be read" in s.text
        out = await s.line("/switch other")
        assert "hello" in out
        await s.line("and again")
        assert server.sent_content() == "and again"
        await s.quit()

    asyncio.run(go())


def _read_only(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """chatrepl run with ``folder`` mounted read-only (a user and mount namespace of its own)."""
    script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"')
    done = subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c", script,
                           str(folder), sys.executable, "-m", "repl", *args],
                          env=env, capture_output=True, text=True, timeout=60)
    if "mount:" in done.stderr or "unshare:" in done.stderr:
        pytest.skip(f"no read-only mount here: {done.stderr.strip()}")
    return done


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_read_only_data_dir_reads_and_a_write_says_why(api_env: dict[str, str],
                                                        tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"role": "user", "content": "hi there"},
                                {"role": "assistant", "content": "hello"}]))
    assert chatrepl(api_env, "--import", str(path)).returncode == 0
    listed = _read_only(data_dir, api_env, "--list")
    assert listed.returncode == 0 and "a " in listed.stdout, listed.stderr
    exported = _read_only(data_dir, api_env, "-t", "a", "--export", "-")
    assert exported.returncode == 0 and "hi there" in exported.stdout
    found = _read_only(data_dir, api_env, "--search", "there")
    assert found.returncode == 0 and "[there]" in found.stdout
    other = path.with_name("b.json")
    other.write_text(json.dumps([{"role": "user", "content": "something new"}]))
    wrote = _read_only(data_dir, api_env, "--import", str(other))
    assert wrote.returncode == 1
    assert wrote.stderr == (f"chatrepl: cannot write to the thread store {data_dir}/chatrepl.db"
                            ": it is on a read-only disk (reading works)\n")

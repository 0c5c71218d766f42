"""Hostile files: an import (or a thread file synced into a store) that names a path where a store
keeps its attachments' bytes never reads, sends, exports or deletes that path."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI
from harness import Session
from stores import BACKENDS

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


"""/paste (issue 22, Input): the clipboard's image attached as /attach would, read by fake
clipboard tools (wl-paste, xclip) that the tests put first on PATH; the real App, the fake
server."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI
from harness import Session, run

CAT = shutil.which("cat") or "/bin/cat"  # found before the tests narrow PATH
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # 2,056 bytes: "2 KB"


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory that is all of PATH: no real clipboard tool is found; tests add fakes."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def fake_tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def png_tool(folder: Path, name: str, data: bytes = PNG) -> None:
    """A tool that prints ``data`` and records its arguments."""
    (folder / f"{name}.png").write_bytes(data)
    fake_tool(folder, name, f'echo "$@" > "{folder}/{name}.args"\nexec {CAT} "{folder}/{name}.png"')


def test_paste_attaches_the_clipboard_image_and_sends_it(
        api_env: dict[str, str], server: FakeOpenAI, tools: Path, data_dir: Path) -> None:
    png_tool(tools, "wl-paste")

    async def go() -> None:
        s = await Session().start()
        out = await s.line("/paste")
        assert (tools / "wl-paste.args").read_text() == "--type image/png\n"
        (staged,) = s.ctx.staged
        assert staged.parent == data_dir / "pasted" and staged.name.startswith("clipboard-")
        assert staged.read_bytes() == PNG
        assert stat.S_IMODE(staged.stat().st_mode) == 0o600
        assert stat.S_IMODE(staged.parent.stat().st_mode) == 0o700
        assert f"📎 {staged.name} · image/png · 2 KB" in out
        assert "1 file attached to your next message" in out
        assert s.app._toolbar().startswith(" 1 attached · ")
        await s.line("what is this?")
        parts = server.sent_content()
        assert parts[0] == {"type": "text", "text": "what is this?"}
        assert parts[1]["type"] == "image_url"
        assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
        assert s.ctx.staged == []
        await s.quit()

    run(go)


def test_paste_with_no_clipboard_tool_is_one_clear_line(
        api_env: dict[str, str], server: FakeOpenAI, tools: Path) -> None:
    async def go() -> None:
        s = await Session().start()
        out = await s.line("/paste")
        assert out.strip() == ("error: no clipboard tool is installed (one of wl-paste, xclip, "
                               "pngpaste); save the image and /attach it")
        assert s.ctx.staged == []
        await s.quit()

    run(go)


def test_paste_without_an_image_on_the_clipboard_names_what_each_tool_said(
        api_env: dict[str, str], server: FakeOpenAI, tools: Path, data_dir: Path) -> None:
    fake_tool(tools, "wl-paste", 'echo "No suitable type of content copied" >&2; exit 1')
    png_tool(tools, "xclip", b"just some text\n")  # what a text clipboard could give

    async def go() -> None:
        s = await Session().start()
        out = await s.line("/paste")
        assert out.strip() == ("error: the clipboard holds no image (wl-paste: No suitable type "
                               "of content copied; xclip: not an image)")
        assert (tools / "xclip.args").read_text() == "-selection clipboard -t image/png -o\n"
        assert s.ctx.staged == [] and not list((data_dir / "pasted").glob("*"))
        await s.quit()

    run(go)


def test_paste_falls_back_to_the_next_tool_and_prunes_old_pastes(
        api_env: dict[str, str], server: FakeOpenAI, tools: Path, data_dir: Path) -> None:
    fake_tool(tools, "wl-paste", 'echo "Failed to connect to a Wayland server" >&2; exit 1')
    png_tool(tools, "xclip")
    folder = data_dir / "pasted"
    folder.mkdir(parents=True)
    old, recent = folder / "clipboard-old.png", folder / "clipboard-recent.png"
    old.write_bytes(PNG)
    recent.write_bytes(PNG)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))

    async def go() -> None:
        s = await Session().start()
        await s.line("/paste")
        await s.line("/paste")  # twice in one second: two files
        assert len(s.ctx.staged) == 2 and len(set(s.ctx.staged)) == 2
        assert all(p.read_bytes() == PNG for p in s.ctx.staged)
        await s.quit()

    run(go)
    assert not old.exists() and recent.exists()

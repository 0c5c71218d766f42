"""Attaching files: /attach, /detach, -a, the parts each kind becomes (asserted on the request the
real local server received), the refusals, and how attachments are shown."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeserver import Failure, FakeOpenAI, Reply
from harness import Session
from hypothesis import given, settings
from hypothesis import strategies as st

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 160  # 40,968 bytes: "41 KB"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)
GIF = b"GIF89a" + bytes(50)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(30)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
TEXT = "naïve café ☕\nline two\n"
BINARY = b"PK\x03\x04" + bytes([0, 0xFF, 0xFE, 0x80]) * 50  # a zip: none of the kinds sent



@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding one file of each kind; the REPL runs in it."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "cat.png").write_bytes(PNG)
    (folder / "paper.pdf").write_bytes(PDF)
    (folder / "notes.txt").write_text(TEXT, encoding="utf-8")
    (folder / "my photo.dat").write_bytes(JPEG)  # an image by its bytes, whatever its name
    (folder / "archive.zip").write_bytes(BINARY)
    monkeypatch.chdir(folder)
    return folder


def run(coro: Any) -> None:
    asyncio.run(coro)


def data_url(url: str, mime: str) -> bytes:
    head, _, payload = url.partition(",")
    assert head == f"data:{mime};base64"
    return base64.b64decode(payload, validate=True)


def lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip()]


def test_each_kind_becomes_its_part_in_order(api_env: dict[str, str], server: FakeOpenAI,
                                             work: Path) -> None:
    async def go() -> None:
        s = await Session().start()
        out = await s.line('/attach cat.png paper.pdf notes.txt "my photo.dat"')
        assert "📎 cat.png · image/png · 41 KB" in out
        assert "📎 my photo.dat · image/jpeg · 210 B" in out
        assert "4 files attached to your next message" in out
        assert s.app._toolbar() == " 4 attached · default · gpt-4o-mini · 0 messages "
        assert server.requests == []  # staging sends nothing
        server.queue(Reply("a cat, a paper, notes and a photo"))
        out = await s.line("what are these?")
        # the live view: one line per attachment under the question, then the answer
        assert lines(out)[:4] == ["  📎 cat.png · image/png · 41 KB",
                                  "  📎 paper.pdf · application/pdf · 54 B",
                                  "  📎 notes.txt · text · 26 B",
                                  "  📎 my photo.dat · image/jpeg · 210 B"]
        assert "a cat, a paper, notes and a photo" in out
        assert s.app._toolbar() == " default · gpt-4o-mini · 2 messages "  # nothing staged
        [question, _] = s.store.messages("default")
        assert question.content == "what are these?"  # what was typed: shown and searched
        await s.quit()

    run(go())
    sent = server.sent_content()
    assert [p["type"] for p in sent] == ["text", "image_url", "file", "text", "image_url"]
    assert sent[0] == {"type": "text", "text": "what are these?"}
    assert sent[1].keys() == {"type", "image_url"} and sent[1]["image_url"].keys() == {"url"}
    assert data_url(sent[1]["image_url"]["url"], "image/png") == PNG
    assert sent[2]["file"]["filename"] == "paper.pdf" and sent[2]["file"].keys() == {
        "filename", "file_data"}
    assert data_url(sent[2]["file"]["file_data"], "application/pdf") == PDF
    assert sent[3] == {"type": "text", "text": f'<file name="notes.txt">\n{TEXT}\n</file>'}
    assert data_url(sent[4]["image_url"]["url"], "image/jpeg") == JPEG


def test_every_image_kind_is_known_by_its_bytes(api_env: dict[str, str], server: FakeOpenAI,
                                                work: Path) -> None:
    images = {"a.gif": (GIF, "image/gif"), "b.webp": (WEBP, "image/webp"),
              "c.txt": (JPEG, "image/jpeg"), "d.png": (b"just text, named .png\n", None)}
    for name, (data, _) in images.items():
        (work / name).write_bytes(data)

    async def go() -> None:
        s = await Session().start()
        await s.line("/attach a.gif b.webp c.txt d.png")
        server.queue(Reply("ok"))
        await s.line("look")
        await s.quit()

    run(go())
    sent = server.sent_content()[1:]
    for part, (name, (data, mime)) in zip(sent, images.items(), strict=True):
        if mime is None:  # text named .png is text
            assert part == {"type": "text",
                            "text": f'<file name="{name}">\n{data.decode()}\n</file>'}
        else:
            assert data_url(part["image_url"]["url"], mime) == data


def test_files_are_read_when_sent_and_the_stage_empties_even_on_failure(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    async def go() -> None:
        s = await Session(retries=0).start()
        await s.line("/attach notes.txt")
        (work / "notes.txt").write_text("changed since /attach\n", encoding="utf-8")
        server.queue(Failure(500))
        out = await s.line("read it")
        assert "error:" in out
        assert s.ctx.staged == [] and s.app._toolbar().startswith(" default")
        assert [m.content for m in s.store.messages("default")] == ["read it"]  # stored
        await s.quit()

    run(go())
    assert server.sent_content() == (  # all text: one string
        'read it\n\n<file name="notes.txt">\nchanged since /attach\n\n</file>')


def test_attach_lists_detach_drops_and_paths_are_quoted_or_under_home(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    home = Path(api_env["HOME"])
    (home / "pic.gif").write_bytes(GIF)

    async def go() -> None:
        s = await Session().start()
        assert "nothing attached" in await s.line("/attach")
        await s.line("/attach 'my photo.dat' ~/pic.gif notes.txt")
        out = await s.line("/attach notes.txt")
        assert "notes.txt is already attached" in out
        out = await s.line("/attach")
        assert lines(out) == ["  📎 my photo.dat · image/jpeg · 210 B",
                              "  📎 pic.gif · image/gif · 56 B",
                              "  📎 notes.txt · text · 26 B",
                              "3 files attached to your next message"]
        assert s.app._toolbar().startswith(" 3 attached · default")
        out = await s.line('/detach "my photo.dat"')
        assert "detached 1 file; 2 files still attached" in out
        assert "not attached: other.png" in await s.line("/detach other.png")
        assert s.app._toolbar().startswith(" 2 attached · ")
        assert "detached 2 files" in await s.line("/detach")
        assert s.app._toolbar() == " default · gpt-4o-mini · 0 messages "
        assert "nothing attached" in await s.line("/detach")
        out = await s.line("/attach 'unclosed")
        assert len(lines(out)) == 1 and "cannot read the paths" in out
        await s.line("plain question")
        await s.quit()

    run(go())
    assert server.sent_content() == "plain question"  # nothing staged: a string content


REFUSALS = {  # what the staged file becomes before the message is sent, and what is said
    "missing": (lambda p: p.unlink(), "no such file"),
    "directory": (lambda p: (p.unlink(), p.mkdir()), "is a directory"),
    "named pipe": (lambda p: (p.unlink(), os.mkfifo(p)), "is not a regular file"),  # no hang
    "other kind": (lambda p: p.write_bytes(BINARY), "is not an image (PNG, JPEG, GIF, WebP)"),
    "not UTF-8": (lambda p: p.write_bytes(b"caf\xe9\n"), "a PDF or UTF-8 text"),
    "text too big": (lambda p: p.write_text("x" * 3000), "3 KB, over the 2 KB limit for text"),
    "image too big": (lambda p: p.write_bytes(PNG), "over the 3 KB limit for images"),
    "pdf too big": (lambda p: p.write_bytes(PDF + bytes(5000)), "over the 4 KB limit for PDFs"),
}


def limits(isolated: dict[str, str]) -> None:
    folder = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text("[attach]\ntext_mb = 0.002\nimage_mb = 0.003\n"
                                        "pdf_mb = 0.004\n")


def test_every_refusal_is_one_line_and_sends_nothing(api_env: dict[str, str],
                                                     server: FakeOpenAI, work: Path,
                                                     isolated: dict[str, str]) -> None:
    limits(isolated)

    async def go() -> None:
        s = await Session().start()
        for case, (spoil, said) in REFUSALS.items():
            path = work / f"{case}.txt"
            path.write_text("fine\n")
            await s.line(f'/attach "{path.name}"')
            spoil(path)
            out = await s.line("please look")
            assert len(lines(out)) == 1 and said in out, case
            assert out.startswith("error: ") and "nothing was sent" in out, case
            assert s.ctx.staged == [path], case  # kept: fix the file, or /detach it
            await s.line("/detach")
            # at /attach, the same refusal: one line, nothing staged
            out = await s.line(f'/attach "{path.name}"')
            assert len(lines(out)) == 1 and said in out and "not attached" in out, case
            assert s.ctx.staged == [], case
        assert server.requests == [] and s.store.messages("default") == []
        await s.quit()

    run(go())


def test_one_shot_attach_flag(api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    def chatrepl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "repl", *args], env=api_env, cwd=work,
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)

    server.queue(Reply("a cat and notes"))
    done = chatrepl("-a", "cat.png", "--attach", str(work / "notes.txt"), "what is this?")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a cat and notes\n"  # stdout holds the answer only
    assert "📎 cat.png · image/png · 41 KB" in done.stderr
    sent = server.sent_content()
    assert sent[0] == {"type": "text", "text": "what is this?"}
    assert data_url(sent[1]["image_url"]["url"], "image/png") == PNG
    assert sent[2]["text"] == f'<file name="notes.txt">\n{TEXT}\n</file>'

    done = chatrepl("-a", "missing.png", "what is this?")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"chatrepl: {work / 'missing.png'}: no such file; nothing was sent"]
    assert len(server.requests) == 1


def test_a_bad_attach_setting_is_one_line(api_env: dict[str, str], work: Path,
                                          isolated: dict[str, str]) -> None:
    folder = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl"
    folder.mkdir(parents=True)
    for bad, said in [("image_mb = 0", "attach.image_mb must be a positive number of MB"),
                      ('text_mb = "big"', "attach.text_mb must be a positive number of MB"),
                      ("video_mb = 5", "unknown setting attach.video_mb")]:
        (folder / "config.toml").write_text(f"[attach]\n{bad}\n")
        done = subprocess.run([sys.executable, "-m", "repl", "--list"], env=api_env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
        assert said in done.stderr


def test_tab_completes_paths_quoted_as_a_shell_would(api_env: dict[str, str],
                                                    work: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from repl.completion import CommandCompleter

    (work / "sub dir").mkdir()
    (work / "sub dir" / "deep.png").write_bytes(PNG)
    (work / ".hidden").write_text("x")

    async def go() -> None:
        s = await Session().start()
        completer = CommandCompleter(s.ctx)

        async def complete(text: str) -> list[str]:
            found = completer.get_completions_async(Document(text), CompleteEvent())
            return [c.text async for c in found]

        assert await complete("/attach ca") == ["cat.png"]
        assert await complete("/att notes.txt my") == ['"my photo.dat"']
        assert await complete('/attach "my p') == ['"my photo.dat"']
        assert await complete("/attach su") == ['"sub dir/']  # left open: Tab goes on into it
        assert await complete('/attach "sub dir/d') == ['"sub dir/deep.png"']
        assert ".hidden" not in await complete("/attach ")
        assert await complete("/attach .h") == [".hidden"]
        await s.quit()

    run(go())


def test_a_message_with_parts_shows_one_safe_line_per_attachment() -> None:
    from rich.console import Console

    from repl import attachments
    from repl.render import UI
    from repl.thread import Message

    png = base64.b64encode(PNG).decode()
    parts = ({"type": "text", "text": "compare these"},
             {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
             {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
             attachments.make_part("evil\x1b[31m\n.pdf", attachments.PDF, PDF),
             attachments.make_part('say "hi".txt', attachments.TEXT, b"hello\n"),
             {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
             {"type": "mystery\x07"}, "not even a mapping")
    out = io.StringIO()
    UI(Console(file=out, width=100, force_terminal=True, color_system="truecolor")).message(
        Message("user", "compare these", parts=parts))
    shown = out.getvalue()
    assert "\x07" not in shown and "\x1b[31m" not in shown  # no escape but rich's own style
    plain = io.StringIO()
    UI(Console(file=plain, width=100, color_system=None)).message(
        Message("user", "compare these", parts=parts))
    assert plain.getvalue().splitlines() == [
        "❯ compare these",
        "  📎 image · image/png · 41 KB",
        "  📎 https://example.com/a.jpg · image",
        "  📎 evil␛[31m␤.pdf · application/pdf · 54 B",
        '  📎 say "hi".txt · text · 6 B',
        "  📎 audio · audio/wav · 3 B",
        "  📎 mystery␇ · part",
        "  📎 ? · not a part"]


def test_attachments_are_shown_in_history_and_resent_next_turn(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    async def go() -> None:
        s = await Session().start()
        await s.line("/attach paper.pdf")
        server.queue(Reply("a paper"))
        await s.line("what is it?")
        out = await s.line("/history")
        assert "📎 paper.pdf · application/pdf · 54 B" in out
        await s.line("and now?")
        await s.quit()
        s = await Session().start()  # the turns shown on opening
        assert "📎 paper.pdf · application/pdf · 54 B" in s.text
        await s.quit()

    run(go())
    question = server.sent_messages()[0]
    assert data_url(question["content"][1]["file"]["file_data"], "application/pdf") == PDF
    resent = server.requests[-1]["messages"][0]  # the next turn sends the stored bytes back
    assert data_url(resent["content"][1]["file"]["file_data"], "application/pdf") == PDF


def test_an_image_keeps_its_file_name_in_history_export_and_search(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    async def go() -> None:
        s = await Session().start("pets")
        await s.line("/attach cat.png")
        server.queue(Reply("a cat"))
        await s.line("what is this?")
        assert "📎 cat.png · image/png · 41 KB" in await s.line("/history")
        assert "pets" in await s.line("/search cat.png")
        await s.line(f"/export {work / 'pets.md'}")
        server.queue(Reply("still a cat"))
        s.pipe.send_text("/edit\r")
        await s.wait_prompt()
        s.pipe.send_text(" now?\r")
        await s.wait_prompt()
        assert "📎 cat.png · image/png · 41 KB" in await s.line("/history")
        await s.quit()
        s = await Session().start("pets")  # the turns shown on opening
        assert "📎 cat.png · image/png · 41 KB" in s.text and "📎 image" not in s.text
        await s.quit()

    run(go())
    assert "cat.png (image/png, 40,968 bytes)" in (work / "pets.md").read_text()
    for request in server.requests:  # the name is chatrepl's: never sent
        for message in request["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else []:
                if part["type"] == "image_url":
                    assert list(part["image_url"]) == ["url"]


def test_an_edited_question_keeps_its_attachments(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    async def go() -> None:
        s = await Session().start()
        await s.line("/attach cat.png")
        server.queue(Reply("a cat"))
        await s.line("what is this?")
        server.queue(Reply("still a cat"))
        s.pipe.send_text("/edit\r")
        await s.wait_prompt()
        s.pipe.send_text("\x7f" + " animal?\r")
        await s.wait_prompt()
        await s.quit()

    run(go())
    edited = server.requests[-1]["messages"][-1]
    assert edited["content"][0] == {"type": "text", "text": "what is this animal?"}
    assert edited["content"][1]["type"] == "image_url"
    assert data_url(edited["content"][1]["image_url"]["url"], "image/png") == PNG


def test_attach_then_switch_keeps_the_stage_for_the_next_message(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    async def go() -> None:
        s = await Session().start()
        await s.line("/attach cat.png")
        await s.line("/switch other")
        assert s.app._toolbar() == " 1 attached · other · gpt-4o-mini · 0 messages "
        server.queue(Reply("a cat"))
        await s.line("here?")
        await s.quit()

    run(go())
    assert server.requests[-1]["messages"][-1]["content"][1]["type"] == "image_url"
    assert os.path.exists(work / "cat.png")


@pytest.mark.slow
def test_in_a_pty_the_bar_counts_tab_completes_and_each_attachment_is_a_line(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    from pty_session import terminals

    chatrepl = Path(sys.executable).with_name("chatrepl")
    if not chatrepl.exists():
        pytest.skip(f"{chatrepl} is not installed")
    start = terminals(api_env, work, [str(chatrepl)])
    term = next(start)("-a", "cat.png")  # -a without a prompt: staged for the first message
    try:
        assert term.toolbar() == "1 attached · default · gpt-4o-mini · 0 messages"
        term.send("/attach no\t")
        term.wait_text("/attach notes.txt")
        term.send("\r")
        term.wait_prompt()
        assert term.toolbar() == "2 attached · default · gpt-4o-mini · 0 messages"
        server.queue(Reply("a cat and notes"))
        term.line("what is this?")
        shown = term.lines()
        asked = shown.index("❯ what is this?")
        assert shown[asked + 1:asked + 4] == ["  📎 cat.png · image/png · 41 KB",
                                              "  📎 notes.txt · text · 26 B",
                                              "a cat and notes"]
        assert term.toolbar() == "default · gpt-4o-mini · 2 messages"
        assert term.quit() == 0
    finally:
        next(start, None)  # closes what still runs
    assert [p["type"] for p in server.sent_content()] == ["text", "image_url", "text"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=10)
PARTS = JSON | st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "file", "input_audio", "x\x1b"]) | JSON},
    optional={"text": JSON, "image_url": JSON, "file": JSON, "input_audio": JSON})


@given(st.lists(PARTS, max_size=5))
@settings(max_examples=300, deadline=None)
def test_any_part_from_anywhere_is_shown_without_error_or_escape(parts: list[Any]) -> None:
    from repl.parts import shown_parts
    from repl.sanitize import clean_line

    for shown in shown_parts(parts):
        line = clean_line(shown.line())
        assert line.startswith("📎 ") and "\n" not in line and "\x1b" not in line

"""The streaming markdown renderer, checked through a terminal emulator (pyte).

What ends up on the terminal (scrollback + screen) after streaming must equal a full render of the
final text, however the text was split into deltas, even when it is taller than the terminal.
"""

from __future__ import annotations

import io
import re

import pyte
import pytest
from rich.console import Console

from repl.render.markdown import Markdown
from repl.render.stream import MarkdownStream
from repl.render.ui import UI
from repl.sanitize import clean
from repl.thread import Message

TRICKY = {
    "fence split": "Intro:\n\n```python\ndef f():\n    return 1\n```\n\nAfter.",
    "unclosed fence": "Look:\n\n```js\nlet a = 1;\nlet b = 2;",
    "table": "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\nDone.",
    "nested list": "- one\n  - one.a\n  - one.b\n- two\n\n1. x\n2. y\n\nend",
    "headings and quote": "# H1\n\ntext\n\n## H2\n\n> quoted\n> more\n\n---\n\nlast",
    "setext": "Title\n=====\n\npara\n---\n\nx",
    "wide chars": "日本語のテキスト 🎉 emoji and combining é (e\u0301)\n\n- 中文\n- 👍🏽",
    "long lines": "x" * 130 + "\n\n" + "word " * 30 + "\n\n```\n" + "y" * 120 + "\n```",
    "escapes": "safe \x1b]52;c;aGk=\x07 and \x1b[2J then \x9b end\n\n`\x1b[31m`",
    "html": "If x<y and y>z use Vec<T>.\n\n<details>\n<summary>More</summary>\n\nBody.\n\n"
            "</details>\n\n<div class=\"x\">\n  <p>hi</p>\n</div>\nend",
    "think": "<think>\nfirst thought\n\nsecond</think>\n\nThe answer.\n\n<think>\n\n</think>\n\nx",
}


def terminal_text(data: bytes, width: int, height: int) -> list[str]:
    screen = pyte.HistoryScreen(width, height, history=100_000)
    pyte.ByteStream(screen).feed(data.replace(b"\n", b"\r\n"))
    rows = ["".join(row[x].data for x in range(width)).rstrip() for row in screen.history.top]
    rows += [line.rstrip() for line in screen.display]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def streamed(deltas: list[str], width: int = 80, height: int = 24) -> list[str]:
    return terminal_text(streamed_bytes(deltas, width, height), width, height)


def streamed_bytes(deltas: list[str], width: int = 80, height: int = 24,
                   color: str | None = None) -> bytes:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    console = Console(file=out, force_terminal=True, width=width, height=height,
                      color_system=color)  # type: ignore[arg-type]
    now = [0.0]
    stream = MarkdownStream(console, clock=lambda: now[0])
    stream.start()
    for delta in deltas:
        stream.feed(delta)
        now[0] += 1.0  # every delta is due a repaint
    stream.finish()
    return raw.getvalue()


def replayed_bytes(text: str, width: int = 80, color: str | None = None) -> bytes:
    """The bytes UI.message writes when history shows an answer again."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    console = Console(file=out, force_terminal=True, width=width, height=24,
                      color_system=color)  # type: ignore[arg-type]
    UI(console).message(Message(role="assistant", content=text))
    return raw.getvalue()


def shown(text: str, width: int = 80) -> dict[str, list[str]]:
    """What the terminal shows for ``text``: streamed whole, one character at a time, replayed."""
    return {"streamed": streamed([text], width), "by character": streamed(list(text), width),
            "replayed": terminal_text(replayed_bytes(text, width), width, 24)}


def full(text: str, width: int = 80, height: int = 24) -> list[str]:
    """A full render of the final text, through the same terminal emulator."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    Console(file=out, force_terminal=True, width=width, color_system=None).print(
        Markdown(clean(text)))
    return terminal_text(raw.getvalue(), width, height)


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_every_split_point_gives_the_full_render(name: str) -> None:
    text = TRICKY[name]
    want = full(text)
    for k in range(len(text) + 1):
        assert streamed([text[:k], text[k:]]) == want, f"split at {k}: {text[:k]!r}"


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_one_character_at_a_time(name: str) -> None:
    text = TRICKY[name]
    assert streamed(list(text)) == full(text)


def test_answer_ten_times_taller_than_the_terminal() -> None:
    text = "\n\n".join(
        [f"## Part {i}\n\nSome text for part {i} that goes on for a while, " * 2 +
         f"\n\n```python\nfor x in range({i}):\n    print(x)\n```\n\n- a\n- b" for i in range(12)]
        + ["```\n" + "\n".join(f"line {n}" for n in range(80)) + "\n```", "the end"])
    want = full(text, width=60, height=20)
    assert len(want) > 10 * 20
    for step in (5, 64):
        deltas = [text[i:i + step] for i in range(0, len(text), step)]
        assert streamed(deltas, width=60, height=20) == want


def test_no_escape_from_the_text_reaches_the_terminal() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    console = Console(file=out, force_terminal=True, width=80, height=24, color_system=None)
    stream = MarkdownStream(console)
    stream.start()
    stream.feed(TRICKY["escapes"])
    stream.finish()
    data = raw.getvalue()
    assert b"\x1b]52" not in data and b"\x1b[2J" not in data and b"\x1b[31m" not in data
    assert "\x9b" not in data.decode() and "␛]52" in data.decode()


def test_reasoning_is_shown_then_collapsed_to_one_line() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    console = Console(file=out, force_terminal=True, width=80, height=24, color_system=None)
    now = [0.0]
    stream = MarkdownStream(console, clock=lambda: now[0])
    stream.start()
    stream.feed(reasoning="let me think\nabout it")
    now[0] += 2.5
    stream.feed("The answer.")
    stream.finish()
    rows = terminal_text(raw.getvalue(), 80, 24)
    assert rows[0].startswith("▸ reasoned for 2.5 s")
    assert "let me think" not in "\n".join(rows)
    assert rows[-1] == "The answer."


def test_resize_while_streaming_loses_and_repeats_nothing() -> None:
    words = [f"w{i:03d}" for i in range(400)]
    text = "\n\n".join(" ".join(words[i:i + 40]) for i in range(0, 400, 40))
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    console = Console(file=out, force_terminal=True, width=100, height=20, color_system=None)
    now = [0.0]
    stream = MarkdownStream(console, clock=lambda: now[0])
    stream.start()
    screen = pyte.HistoryScreen(100, 20, history=100_000)
    emulator = pyte.ByteStream(screen)
    fed = 0
    for i in range(0, len(text), 9):
        if i == len(text) // 2:  # the user narrows the window mid-answer
            emulator.feed(raw.getvalue()[fed:].replace(b"\n", b"\r\n"))
            fed = len(raw.getvalue())
            screen.resize(20, 60)
            console.width = 60
        stream.feed(text[i:i + 9])
        now[0] += 1.0
    stream.finish()
    emulator.feed(raw.getvalue()[fed:].replace(b"\n", b"\r\n"))
    rows = ["".join(row[x].data for x in sorted(row)) for row in screen.history.top]
    rows += list(screen.display)
    seen = " ".join(rows).split()
    assert [w for w in seen if w.startswith("w")] == words


HTML = {
    "inline": ("If x<y and y>z then use Vec<T> or Option<String>.",
               ["If x<y and y>z then use Vec<T> or Option<String>."]),
    "tag": ('a <div class="x"> wrapper', ['a <div class="x"> wrapper']),
    "details": ("<details>\n<summary>More</summary>\n\nThe body.\n\n</details>\n\nAfter.",
                ["<details>", "<summary>More</summary>", "The body.", "</details>", "After."]),
    "comment": ("<!-- note -->\n\ntext <br> more", ["<!-- note -->", "text <br> more"]),
}


@pytest.mark.parametrize("name", sorted(HTML))
def test_raw_html_is_shown_as_the_text_it_is(name: str) -> None:
    text, want = HTML[name]
    for how, rows in shown(text).items():
        assert [row for row in rows if row] == want, how


def italic_rows(data: bytes, width: int = 80) -> dict[str, bool]:
    """Each non-blank row of the screen, and whether all its characters are italic."""
    screen = pyte.HistoryScreen(width, 24, history=1000)
    pyte.ByteStream(screen).feed(data.replace(b"\n", b"\r\n"))
    rows = [*screen.history.top, *(screen.buffer[y] for y in range(screen.lines))]
    out: dict[str, bool] = {}
    for row in rows:
        chars = [row[x] for x in sorted(row) if row[x].data != " "]
        if chars:
            out["".join(row[x].data for x in sorted(row)).strip()] = all(c.italics for c in chars)
    return out


def test_a_think_block_is_shown_dimmed_as_reasoning() -> None:
    text = "<think>\nThe user wants x.\n\nSo y.\n</think>\n\nThe answer is y."
    want = {"The user wants x.": True, "So y.": True, "The answer is y.": False}
    assert italic_rows(streamed_bytes(list(text), color="standard")) == want
    assert italic_rows(streamed_bytes([text], color="standard")) == want
    assert italic_rows(replayed_bytes(text, color="standard")) == want


def test_an_unclosed_think_block_streams_as_reasoning() -> None:
    text = "<think>\nStill thinking about it"
    assert italic_rows(streamed_bytes(list(text), color="standard")) == {
        "Still thinking about it": True}


def test_a_table_that_fits_is_not_cut_and_one_that_does_not_wraps() -> None:
    text = ("| file | what | test |\n|---|---|---|\n"
            "| `repl/render/stream.py` | the streaming renderer, which prints each block once "
            "and keeps only the open one live | `test_render.py::test_every_split_point` |\n"
            "| `repl/sanitize.py` | untrusted text made safe | `test_units.py` |")
    for how, rows in shown(text, width=100).items():
        joined = "\n".join(rows)
        assert "…" not in joined, how
        assert "repl/render/stream.py" in joined and "test_render.py::test_every_split_point" \
            in joined, how
        assert max(map(len, rows)) <= 100, how
    for how, rows in shown(text, width=40).items():
        assert "…" not in "\n".join(rows), how
        letters = "".join(rows).replace(" ", "")
        for word in ("prints", "block", "keeps", "live", "untrusted", "safe"):
            assert word in letters, (how, word)


def test_an_image_is_shown_where_it_stands() -> None:
    text = "Look at ![the diagram](https://example.com/d.png) and then read on."
    for how, rows in shown(text).items():
        assert rows == [
            "Look at image: the diagram (https://example.com/d.png) and then read on."], how


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_code_is_padded_to_its_longest_line_not_to_the_terminal() -> None:
    """Lines padded to the full width leave blank rows once a terminal that reflows is narrowed:
    no line (code, paragraph) is printed wider than its text."""
    text = "Code:\n\n```python\ndef f():\n\treturn 1\n```\n\nAfter."
    for data in (streamed_bytes(list(text), width=100, color="256"),
                 streamed_bytes([text], width=100, color="256"),
                 replayed_bytes(text, width=100, color="256")):
        plain = [ANSI.sub("", line) for line in re.split("[\r\n]", data.decode())]
        assert max(map(len, plain)) <= len("    return 1") + 2, plain
        assert "    return 1" in "\n".join(plain)

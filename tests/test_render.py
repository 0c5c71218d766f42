"""The streaming markdown renderer, checked through a terminal emulator (pyte).

What ends up on the terminal (scrollback + screen) after streaming must equal a full render of the
final text, however the text was split into deltas, even when it is taller than the terminal.
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from pathlib import Path

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
    "think": "<think>\nfirst thought\n\nsecond</think>\n\nThe answer.\n\n<think>\n\n</think>\n\n"
             "x\n\n<think>more</think> then text\n\nend",
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


class Terminal(pyte.HistoryScreen):  # type: ignore[misc]
    """A terminal that does not reflow, like xterm. Made shorter, it pushes the rows above the
    cursor into scrollback (pyte's own resize loses them and leaves the cursor behind); made
    narrower, it hides what is past the edge rather than losing it, so that only the renderer can
    lose or repeat a word."""

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        lines, columns = lines or self.lines, columns or self.columns
        drop = max(0, self.cursor.y + 1 - lines)
        self.history.top.extend(self.buffer[y] for y in range(drop))
        rows = {y - drop: self.buffer[y] for y in range(drop, self.lines) if y - drop < lines}
        self.buffer.clear()
        self.buffer.update(rows)
        self.cursor.y -= drop
        self.lines, self.columns = lines, columns
        self.set_margins()
        self.ensure_hbounds()
        self.dirty.update(range(lines))

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        super().erase_in_line(how, private)
        if how == 2:  # the whole line, hidden part included
            line = self.buffer[self.cursor.y]
            for x in [x for x in line if x >= self.columns]:
                del line[x]

    def rows(self) -> list[str]:
        rows = [*self.history.top, *(self.buffer[y] for y in range(self.lines))]
        return ["".join(row[x].data for x in sorted(row)) for row in rows]


def streamed_with_resizes(text: str, sizes: list[tuple[int, int]], every: int, *, step: int,
                          seconds: float) -> list[str]:
    """Scrollback and screen after streaming ``text`` ``step`` characters every ``seconds``, the
    terminal (and the Console) taking the next of ``sizes`` every ``every`` deltas."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    width, height = sizes[0]
    console = Console(file=out, force_terminal=True, width=width, height=height,
                      color_system=None)
    now = [0.0]
    stream = MarkdownStream(console, clock=lambda: now[0])
    term = Terminal(width, height, history=1_000_000)
    emulator = pyte.ByteStream(term)
    fed = 0
    stream.start()
    for n, i in enumerate(range(0, len(text), step)):
        if n and n % every == 0:
            emulator.feed(raw.getvalue()[fed:].replace(b"\n", b"\r\n"))
            fed = len(raw.getvalue())
            width, height = sizes[n // every % len(sizes)]
            term.resize(height, width)
            console.width, console.height = width, height
        stream.feed(text[i:i + step])
        now[0] += seconds
    stream.finish()
    emulator.feed(raw.getvalue()[fed:].replace(b"\n", b"\r\n"))
    return term.rows()


def numbered_answer() -> tuple[str, list[str]]:
    """Every kind of block, taller than the screen, each word unique: w0000, w0001..."""
    count = 0

    def words(n: int) -> str:
        nonlocal count
        count += n
        return " ".join(f"w{i:04d}" for i in range(count - n, count))

    parts = [f"## {words(2)}", words(130), "\n".join(f"- {words(9)}" for _ in range(25)),
             "```\n" + "\n".join(words(3) for _ in range(40)) + "\n```", "> " + words(60),
             f"1. {words(12)}\n2. {words(12)}", words(20)]
    return "\n\n".join(parts), [f"w{i:04d}" for i in range(count)]


RESIZES = {
    "narrower and shorter": [(100, 30), (40, 15)],
    "narrower": [(100, 30), (40, 30)],
    "shorter": [(100, 30), (100, 12)],
    "three sizes": [(80, 24), (120, 40), (50, 10)],
}


@pytest.mark.parametrize("every", [7, 29])
@pytest.mark.parametrize("name", sorted(RESIZES))
def test_resizes_while_streaming_lose_and_repeat_no_word(name: str, every: int) -> None:
    text, words = numbered_answer()
    rows = streamed_with_resizes(text, RESIZES[name], every, step=11, seconds=0.02)
    assert re.findall(r"w\d{4}", " ".join(rows)) == words


@pytest.mark.slow
def test_the_8000_token_answer_resized_every_four_tenths_of_a_second_is_shown_once() -> None:
    """benchmarks/render.py's md-8k at 100x30, the terminal alternating with 40x15 every 0.4 s of
    a 100 tok/s stream (40 tokens of 4 characters)."""
    spec = importlib.util.spec_from_file_location(
        "bench_render", Path(__file__).parents[1] / "benchmarks" / "render.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    text = bench.answer(8000)
    rows = streamed_with_resizes(text, [(100, 30), (40, 15)], every=40, step=4, seconds=0.01)
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(Markdown(clean(text)))

    def words(shown: str) -> list[str]:
        return [word for word in shown.split() if word.strip("─•▌")]
    assert words(" ".join(rows)) == words(out.getvalue())


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

"""Streaming markdown that prints each finished block once and keeps only the open block live.

The answer is split into top-level markdown blocks as it grows. A block is finished once the next
one has begun: it is rendered once, printed to scrollback and never touched again. Only the open
block (a growing paragraph, an unclosed code fence, a table) is re-rendered, in a small live
region, at most ``fps`` (30) times a second. So a token costs work proportional to the open block,
not the whole answer, and nothing is duplicated or lost when the answer is taller than the screen.

Rule for an open block taller than the screen: its lines scroll out of the live region into
scrollback one by one and are final from then on (a later token can no longer change them).

A resize is followed at the next paint. Rows of the live region pushed off the top of a screen
made shorter are final too (they are in scrollback, out of the cursor's reach). When the width
changes, the open block is laid out anew, so what of it is already printed is found again by its
words, not its lines: the rest continues after the last word printed (mid-line if need be), so
every word is shown once. The live region is erased on the assumption that the terminal does not
reflow it; one that rewraps the live region's long lines when narrowed (most do) can keep the
top of the old region above the new one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.segment import Segment, SegmentLines
from rich.text import Text

from repl.render.markdown import Markdown, lines
from repl.render.terminal import QuietInput
from repl.sanitize import clean

REASONING_LINES = 4
WORD = re.compile(r"[^\s▌•─━]+")  # a word, not the quote bars, bullets and rules around it


class MarkdownStream:
    """Feed it text deltas; it keeps the terminal showing the answer rendered as markdown."""

    def __init__(self, console: Console, *, code_theme: str = "monokai", math: bool = True,
                 fps: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.code_theme = code_theme
        self.math = math
        self.interval = 1.0 / fps
        self.clock = clock
        self._open: list[str] = []  # the text of the open (unfinished) part, in pieces
        self._open_printed = 0  # lines of the open block already scrolled out to scrollback
        self._open_words = 0  # the words in those lines
        self._painted: list[list[Segment]] = []  # the lines in the live region
        self._size = (console.width, console.height)  # the size they were laid out for
        self._relaid = False  # the width changed since the open block's lines were counted
        self._gap = False  # a blank line is owed between the last printed block and the next
        self._reasoning: list[str] = []
        self._reasoning_started: float | None = None
        self._answer_started = False
        self._dirty = False
        self._last_paint = 0.0
        self._live = Live(console=console, auto_refresh=False, transient=True,
                          redirect_stdout=False, redirect_stderr=False)
        self._quiet = QuietInput()

    # -- input ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._quiet.__enter__()
        self._live.start()

    def feed(self, text: str = "", reasoning: str = "") -> None:
        if reasoning:
            if self._reasoning_started is None:
                self._reasoning_started = self.clock()
            self._reasoning.append(reasoning)
        if text:
            if not self._answer_started:
                self._answer_started = True
                self._collapse_reasoning()
            self._open.append(text)
        self._dirty = True
        if self.clock() - self._last_paint >= self.interval:
            self.tick()

    def tick(self) -> None:
        """Repaint the live region if anything changed since the last paint."""
        if not self._dirty:
            return
        self._dirty = False
        self._last_paint = self.clock()
        if self._answer_started:
            self._paint_answer()
        elif self._reasoning:
            tail = "".join(self._reasoning).splitlines()[-REASONING_LINES:]
            self._live.update(Text(clean("\n".join(tail)), style="dim italic"), refresh=True)

    def finish(self, note: str | None = None) -> None:
        """Print whatever is still open, for good, and stop the live region."""
        self._follow_resize()
        self._collapse_reasoning()
        self._live.update(Text(""), refresh=True)
        self._live.stop()
        self._quiet.__exit__(None, None, None)
        tail = "".join(self._open)
        self._open.clear()
        if tail.strip():
            self._print_block(self._markdown(tail))
        if note:
            self.console.print(Text(note, style="dim"))
        self.console.print()

    # -- painting -------------------------------------------------------------------------------

    def _collapse_reasoning(self) -> None:
        if self._reasoning and self._reasoning_started is not None:
            seconds = self.clock() - self._reasoning_started
            chars = sum(map(len, self._reasoning))
            self._live.console.print(Text(f"▸ reasoned for {seconds:.1f} s ({chars} characters)",
                                          style="dim italic"))
            self._reasoning.clear()
            self._reasoning_started = None

    def _markdown(self, text: str) -> Markdown:
        return Markdown(clean(text), code_theme=self.code_theme, math=self.math)

    def _follow_resize(self) -> None:
        """Take note of a new terminal size before painting for it."""
        width, height = size = (self.console.width, self.console.height)
        if size == self._size:
            return
        if len(self._painted) > height:  # the top of the live region is in scrollback now
            gone = self._painted[: len(self._painted) - height]
            self._open_printed += len(gone)
            self._open_words += sum(map(_words, gone))
            self._painted = self._painted[len(gone):]
        self._relaid = self._relaid or width != self._size[0]
        self._size = size

    def _paint_answer(self) -> None:
        self._follow_resize()
        tail = "".join(self._open)
        md = self._markdown(tail)
        starts = [t.map[0] for t in md.parsed if t.level == 0 and t.nesting >= 0 and t.map]
        if len(starts) >= 2:
            # Every block but the last is finished: print them once, keep the last one open.
            lines = tail.splitlines(keepends=True)
            done, rest = "".join(lines[: starts[-1]]), "".join(lines[starts[-1]:])
            self._print_block(self._markdown(done))
            self._open = [rest]
            md = self._markdown(rest)
        self._live.update(self._live_part(md), refresh=True)

    def _lines(self, md: Markdown) -> list[list[Segment]]:
        """The rendered lines of ``md`` as they appear after what is already printed.

        rich puts a blank line between top-level blocks; a block with nested blocks (a list, a
        quote, a table) renders its own, a flat one (paragraph, heading, code) is owed one."""
        rendered = lines(self.console, md)
        tokens = md.parsed
        nested = len(tokens) > 1 and tokens[0].nesting == 1 and tokens[1].nesting == 1
        if self._gap and tokens and not nested:
            rendered.insert(0, [])
        return rendered

    def _live_part(self, md: Markdown) -> SegmentLines:
        lines = self._unprinted(md)
        room = max(self.console.height - 2, 3)
        overflow = len(lines) - room
        if overflow > 0:
            self._live.console.print(SegmentLines(lines[:overflow], new_lines=True), end="")
            self._open_printed += overflow
            self._open_words += sum(map(_words, lines[:overflow]))
        self._painted = [_rstrip(line) for line in lines[max(overflow, 0):]]
        return SegmentLines(self._painted, new_lines=True)

    def _unprinted(self, md: Markdown) -> list[list[Segment]]:
        """The lines of the open block ``md`` not yet printed.

        After a change of width the printed part is found again by its words; the first line
        that holds both printed and unprinted words is printed from its first unprinted word."""
        lines = self._lines(md)
        if not self._relaid:
            return lines[self._open_printed:]
        self._relaid = False
        k, left = _find_word(lines, self._open_words)
        if left:
            self._live.console.print(SegmentLines([_after(lines[k], left)], new_lines=True),
                                     end="")
            k += 1
        self._open_printed, self._open_words = k, sum(map(_words, lines[:k]))
        return lines[k:]

    def _print_block(self, md: Markdown) -> None:
        """Print finished blocks (minus lines already scrolled out) to scrollback."""
        lines = self._unprinted(md)
        self._open_printed = self._open_words = 0
        self._painted = []
        if lines:
            self._live.console.print(SegmentLines(lines, new_lines=True), end="")
        top = [t for t in md.parsed if t.level == 0 and t.nesting >= 0]
        # after a horizontal rule rich owes no blank line; after anything else it does
        self._gap = (bool(top) and top[-1].type != "hr") or (not top and self._gap)


def _words(line: list[Segment]) -> int:
    return len(WORD.findall("".join(segment.text for segment in line)))


def _find_word(lines: list[list[Segment]], word: int) -> tuple[int, int]:
    """Where word number ``word`` of ``lines`` is: (its line, its number in that line)."""
    for k, line in enumerate(lines):
        count = _words(line)
        if count > word:
            return k, word
        word -= count
    return len(lines), 0


def _after(line: list[Segment], words: int) -> list[Segment]:
    """``line`` from its word number ``words`` (counted from 0) on."""
    text = "".join(segment.text for segment in line)
    start = [match.start() for match in WORD.finditer(text)][words]
    out: list[Segment] = []
    for segment in line:
        if start < len(segment.text):
            out.append(Segment(segment.text[max(start, 0):], segment.style, segment.control))
        start -= len(segment.text)
    return out


def _rstrip(line: list[Segment]) -> list[Segment]:
    """``line`` without its trailing padding.

    The live region is redrawn by moving the cursor up one row per line; a line padded to the full
    width wraps wherever the terminal measures a character wider than rich does (emoji with skin
    tone modifiers, for instance) and that would throw the count off. Unpadded lines rarely reach
    the edge. Lines printed for good lose only their plain padding (markdown.lines)."""
    line = list(line)
    while line and not line[-1].text.strip():
        line.pop()
    if line:
        last = line[-1]
        line[-1] = Segment(last.text.rstrip(), last.style, last.control)
    return line

"""The UI: the only way the rest of chatrepl writes to the terminal.

All text passes through repl.sanitize before it reaches rich, and rich gets Text objects (never
markup strings), so neither model output nor a thread name can inject escapes or styles.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from repl.parts import Shown, names_of, shown_parts
from repl.sanitize import clean, clean_line
from repl.thread import EDITED_BY_USER, HIGHLIGHT, SUMMARY, Hit, Message, ThreadInfo, tool_names
from repl.toolcalls import ToolCall


def shown_arguments(raw: object) -> str:
    """A call's arguments as shown, live and in /history alike: JSON spaced one way whatever
    the model's spacing (what it sent, when that is not JSON)."""
    text = str(raw or "")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False) if text.strip() else text
    except ValueError:
        return text


class Streamer(Protocol):
    def start(self) -> None: ...
    def feed(self, text: str = "", reasoning: str = "") -> None: ...
    def tick(self) -> None: ...
    def finish(self, note: str | None = None) -> None: ...


class PlainStream:
    """For a pipe: the answer's text as it arrives, without any escape sequence."""

    def __init__(self, console: Console) -> None:
        self.file = console.file
        self._last = "\n"

    def start(self) -> None:
        pass

    def feed(self, text: str = "", reasoning: str = "") -> None:
        if text:
            self.file.write(clean(text))
            self.file.flush()
            self._last = text[-1]

    def tick(self) -> None:
        pass

    def finish(self, note: str | None = None) -> None:
        if self._last != "\n":
            self.file.write("\n")
        if note:
            self.file.write(f"{note}\n")
        self.file.flush()


def when(timestamp: float) -> str:
    if not timestamp:
        return "-"
    moment = datetime.datetime.fromtimestamp(timestamp)
    if moment.date() == datetime.date.today():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


STATUS_NOTES = {
    "interrupted": "(interrupted)",
    "error": "(incomplete: the request failed)",
    "truncated": "(truncated)",
}


class NotesApart:
    """A stream whose closing note goes to another console (stderr in one-shot mode)."""

    def __init__(self, view: Streamer, notes: Console) -> None:
        self.view, self.notes = view, notes

    def start(self) -> None:
        self.view.start()

    def feed(self, text: str = "", reasoning: str = "") -> None:
        self.view.feed(text, reasoning)

    def tick(self) -> None:
        self.view.tick()

    def finish(self, note: str | None = None) -> None:
        self.view.finish(None)
        if note:
            self.notes.print(Text(clean(note), style="dim"), soft_wrap=True)


class UI:
    """``notes``: where info lines and notes go; the console unless told (one-shot mode sends
    them to stderr, so that standard output carries the answer only)."""

    def __init__(self, console: Console, *, err: Console | None = None,
                 notes: Console | None = None, code_theme: str = "monokai",
                 math: bool = True, term: str = "") -> None:
        self.console = console
        self.err = err or console
        self.notes = notes or console
        self.code_theme = code_theme
        self.math = math  # TeX shown as Unicode (the text itself is never changed)
        self.term = term  # TERM, from Config

    @property
    def rich_output(self) -> bool:
        return self.console.is_terminal

    # -- lines ----------------------------------------------------------------------------------

    def info(self, text: str) -> None:
        # apart from the answer (stderr), a note is one line for whoever reads it, like errors
        self.notes.print(Text(clean(text), style="dim"), soft_wrap=self.notes is not self.console)

    def say(self, text: str) -> None:
        self.console.print(Text(clean(text)))

    def dim(self, text: str) -> None:
        """A block of text that is not the answer (stored reasoning), dimmed, on the console."""
        self.console.print(Text(clean(text), style="dim"))

    def warn(self, text: str) -> None:
        # magenta, not yellow: yellow on a light background cannot be read
        self.err.print(Text.assemble(("warning: ", "bold magenta"), clean_line(text)),
                       soft_wrap=True)

    def error(self, text: str) -> None:
        self.err.print(Text.assemble(("error: ", "bold red"), clean_line(text)), soft_wrap=True)

    # -- messages -------------------------------------------------------------------------------

    def markdown(self, text: str) -> None:
        from rich.segment import SegmentLines

        from repl.render.markdown import Markdown, lines

        markdown = Markdown(clean(text), code_theme=self.code_theme, math=self.math)
        self.console.print(SegmentLines(lines(self.console, markdown), new_lines=True), end="")

    def attached(self, items: Sequence[Shown], *, console: Console | None = None) -> None:
        """One dim line per attachment, under the question (with the notes unless told)."""
        for item in items:
            (console or self.notes).print(Text(f"  {clean_line(item.line())}", style="dim"),
                                          soft_wrap=True)

    def message(self, message: Message, mark: str = "") -> None:
        """``mark``: which version it is (``‹2/3›``), beside a question, above an answer."""
        if message.role == "user":  # as it was typed: the answer follows right under it
            self.console.print(Text.assemble(("❯ ", "bold cyan"), clean(message.content),
                                             (f"  {mark}" if mark else "", "dim")))
            if message.parts is not None:
                self.attached(shown_parts(message.parts, names_of(message)),
                              console=self.console)
            return
        if message.role == "assistant":
            if mark or message.meta.get(EDITED_BY_USER):
                edited = " (edited by you)" if message.meta.get(EDITED_BY_USER) else ""
                self.console.print(Text(f"{mark}{edited}".strip(), style="dim"))
            if message.reasoning:  # collapsed: stored and shown, never sent
                self.console.print(Text(f"▸ reasoning ({len(message.reasoning):,} characters; "
                                        "/reasoning prints it)", style="dim"))
            if message.content:
                self.markdown(message.content)
            self._tool_calls(message.tool_calls, tool_names(message))
            if message.status:
                self.info(STATUS_NOTES.get(message.status, f"({message.status})"))
        elif message.role == SUMMARY:
            self.info("(summary sent in place of the earlier messages, which stay stored)")
            self.markdown(message.content)
            if message.status:
                self.info(STATUS_NOTES.get(message.status, f"({message.status})"))
        else:  # a tool result, or a system/developer message from an import: dimmed, first lines
            self._dim_lines(f"{message.role}: ", message.content)
        self.console.print()

    def _tool_calls(self, calls: Sequence[ToolCall], names: Mapping[str, str]) -> None:
        """Each tool call as one collapsed line, cut to the width: its tool as the question
        named it (``names``; else the name the model called), and its arguments."""
        for call in calls:
            name = call.name or "?"
            arguments = " ".join(shown_arguments(call.arguments).split())
            line = f"⚙ {clean_line(names.get(name, name))} {clean_line(arguments)}"
            self.console.print(Text(line, style="dim"), overflow="ellipsis", no_wrap=True)

    def _dim_lines(self, label: str, text: str, lines: int = 3) -> None:
        shown = text.strip().splitlines()
        more = f" … ({len(shown) - lines} more lines)" if len(shown) > lines else ""
        body = "\n".join(clean_line(line) for line in shown[:lines]) + more
        self.console.print(Text(label + body, style="dim"), overflow="ellipsis")

    def messages(self, messages: Iterable[Message], *,
                 marks: Mapping[int, str] | None = None) -> None:
        """``marks``: the version marks of some of them, by id (repl/tree.py)."""
        for message in messages:
            self.message(message, (marks or {}).get(message.id or 0, ""))

    def stream(self) -> Streamer:
        view: Streamer
        if not self.rich_output:
            view = PlainStream(self.console)
        else:
            from repl.render.stream import MarkdownStream

            view = MarkdownStream(self.console, code_theme=self.code_theme, math=self.math)
        return view if self.notes is self.console else NotesApart(view, self.notes)

    def copy(self, text: str) -> None:
        """Put ``text`` on the clipboard with OSC 52, which most terminals (and tmux with
        set-clipboard on) honour; there is no way to know whether this one did."""
        if not self.console.is_terminal or self.term in ("", "dumb"):
            self.error("cannot copy: the output is not a terminal (OSC 52 needs one)")
            return
        payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
        self.console.file.write(f"\x1b]52;c;{payload}\x07")
        self.console.file.flush()
        self.info(f"copied {len(text)} characters (via OSC 52; if nothing arrived, your terminal "
                  "does not allow clipboard writes)")

    def hits(self, hits: Sequence[Hit]) -> None:
        if not hits:
            self.info("no match")
            return
        start, end = HIGHLIGHT
        for n, hit in enumerate(hits, 1):
            who = "you" if hit.role == "user" else hit.role
            gone = f" (taken back: {hit.hidden.split(':')[0]})" if hit.hidden else ""
            line = Text.assemble((f"{n:>2}. ", "bold"), (clean_line(hit.thread), "cyan"),
                                 (f" · turn {hit.turn} · {who}{gone}: ", "dim"))
            for i, piece in enumerate(clean_line(hit.snippet).replace(end, start).split(start)):
                line += Text(piece, style="bold reverse" if i % 2 else "")  # any background
            self.console.print(line)
        self.info("/goto N opens a hit")

    # -- tables ---------------------------------------------------------------------------------

    def threads(self, threads: Sequence[ThreadInfo], current: str | None = None,
                default_model: str = "-") -> None:
        """The threads as aligned columns (laid out here: rich's Table takes ~0.2 ms a row)."""
        if not threads:
            self.info("no threads yet")
            return
        rows = [("  " + clean_line(info.name) if info.name != current else
                 "* " + clean_line(info.name), str(info.message_count), when(info.updated_at),
                 clean_line(info.model or default_model)) for info in threads]
        header = ("  thread", "messages", "last activity", "model")
        widths = [max(cell_len(row[i]) for row in [header, *rows]) for i in range(3)]

        def line(row: tuple[str, str, str, str], style: str = "") -> Text:
            name = row[0] + " " * (widths[0] - cell_len(row[0]))
            return Text(f"{name}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}",
                        style=style)

        out = Text("\n").join([line(header, "bold"), *map(line, rows)])
        self.console.print(out, soft_wrap=True, crop=False)

    def rows(self, rows: Sequence[tuple[str, str]]) -> None:
        """Names (bold) and what each is, in two columns: the names' column as wide as its
        names, up to two fifths of the terminal; a longer name has a line of its own, its text
        under it. The text wraps in its column, never into the names'."""
        width = self.console.width
        fits = [n for n in (cell_len(left) for left, _ in rows) if n <= width * 2 // 5]
        column = max(fits, default=0) + 2
        for left, right in rows:
            lines = Text(clean(right)).wrap(self.console, max(20, width - column))
            head = Text(left, style="bold")
            if cell_len(left) > column - 2:
                self.console.print(head, soft_wrap=True)
                head = Text("")
            if not right.strip() and head.plain:
                self.console.print(head, soft_wrap=True)
            for line in lines if right.strip() else ():
                line.rstrip()
                head.append(" " * (column - head.cell_len))
                self.console.print(head + line, soft_wrap=True)
                head = Text("")

"""rich's Markdown, made faithful for model output: nothing in the text is silently not shown.

rich renders markdown-it's raw-HTML tokens as nothing, so ``Vec<T>`` or ``x<y and y>z`` lost words
and a ``<details>`` block vanished. Here raw HTML is shown as the text it is, a ``<think>`` block
(reasoning inline in the content, from servers without a reasoning parser) is shown dimmed, an
image is shown where it stands (its alt text and URL), tables wrap cells instead of cutting them,
no line is padded to the terminal's full width (code blocks only to their longest line), and TeX
math is shown as Unicode (repl.render.math).
"""

from __future__ import annotations

from typing import ClassVar

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from rich import box
from rich import markdown as rich_markdown
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.constrain import Constrain
from rich.measure import Measurement
from rich.segment import Segment
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from repl.render import math as render_math

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class HtmlBlock(rich_markdown.TextElement):
    """A raw HTML block, shown line for line as the text it is."""

    style_name = "markdown.paragraph"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.text.plain.rstrip("\n"), style=self.style)


class ThinkBlock(rich_markdown.TextElement):
    """Reasoning the model wrote inline in ``<think>...</think>``: shown dimmed, like reasoning."""

    style_name = "dim italic"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.text.plain.strip("\n"), style=self.style)


class CodeBlock(rich_markdown.CodeBlock):
    """A code block as wide as its longest line (plus its padding), not as the terminal."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        syntax = Syntax(code, self.lexer_name, theme=self.theme, word_wrap=True, padding=1)
        longest = max((cell_len(line) for line in code.expandtabs(syntax.tab_size).splitlines()),
                      default=0)
        yield Constrain(syntax, longest + 2)


class TableElement(rich_markdown.TableElement):
    """A table that takes the width it needs, up to the terminal's, and wraps cells to fit.

    rich shrinks the widest columns first, whatever they hold, and cuts a word that no longer fits
    with "…". Here each column keeps room for its longest word when the terminal allows it, the
    columns that can wrap give up the width, and a word cut anyway folds onto the next line."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(box=box.SIMPLE, pad_edge=False, style="markdown.table.border",
                      show_edge=True, collapse_padding=True)
        if self.header is not None and self.header.row is not None:
            for cell in self.header.row.cells:
                heading = cell.content.copy()
                heading.stylize("markdown.table.header")
                table.add_column(heading, overflow="fold")
        for row in self.body.rows if self.body is not None else []:
            table.add_row(*(cell.content for cell in row.cells))
        _fit(table, console, options)
        yield table


def _fit(table: Table, console: Console, options: ConsoleOptions) -> None:
    """Fix the column widths when the table is wider than the terminal."""
    cells = [[column.header, *column.cells] for column in table.columns]
    sizes = [[Measurement.get(console, options, cell) for cell in column] for column in cells]
    lows = [max(size.minimum for size in column) for column in sizes]
    highs = [max(size.maximum for size in column) for column in sizes]
    room = options.max_width - 2 * len(cells)  # the edges, separators and padding of box.SIMPLE
    if not cells or sum(highs) <= room:
        return
    if sum(lows) <= room:  # every word fits: what is left goes first to the columns needing least
        slack = [high - low for high, low in zip(highs, lows, strict=True)]
        extra = _share(room - sum(lows), slack)
        widths = [low + more for low, more in zip(lows, extra, strict=True)]
    else:
        widths = _share(room, lows)
    for column, width in zip(table.columns, widths, strict=True):
        column.width = max(width, 1)


def _share(room: int, needs: list[int]) -> list[int]:
    """``room`` shared out so that each column needing less than an equal share gets its need."""
    shares = [0] * len(needs)
    for done, i in enumerate(sorted(range(len(needs)), key=needs.__getitem__)):
        shares[i] = min(needs[i], room // (len(needs) - done))
        room -= shares[i]
    return shares


# -- the parser: rich's (CommonMark, tables, strikethrough) with HTML kept as text ---------------

def _think(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A block that starts with ``<think>``: reasoning, up to ``</think>`` or the end."""
    first = state.bMarks[start] + state.tShift[start]
    if state.sCount[start] - state.blkIndent >= 4 or not state.src.startswith(THINK_OPEN, first):
        return False
    if silent:
        return True
    line = start
    while line < end and THINK_CLOSE not in state.src[first:state.eMarks[line]]:
        line += 1
        first = state.bMarks[line] if line < end else first
    last = min(line, end - 1)
    text = state.getLines(start, last + 1, state.blkIndent, False)
    body, _, tail = text.partition(THINK_OPEN)[2].partition(THINK_CLOSE)
    state.line = last + 1
    if body.strip():
        token = state.push("think", "", 0)
        token.map, token.content, token.block = [start, state.line], body, True
    if tail.strip():  # text after </think> on its line: a paragraph, part of this block
        state.push("paragraph_open", "p", 1)
        inline = state.push("inline", "", 0)
        inline.content, inline.children = tail.strip(), []
        state.push("paragraph_close", "p", -1)
    return True


def _inline_html_as_text(state: StateCore) -> None:
    """Inline HTML becomes text; an image becomes its alt text and URL, where it stands."""
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = [piece for child in block.children for piece in _shown(child)]


def _shown(token: Token) -> list[Token]:
    if token.type == "html_inline":
        return [Token("text", "", 0, content=token.content)]
    if token.type == "image":
        alt = token.content or "image"
        link = Token("link_open", "a", 1, attrs={"href": str(token.attrs.get("src", ""))})
        return [Token("text", "", 0, content="image: "), link,
                Token("text", "", 0, content=alt), Token("link_close", "a", -1)]
    return [token]


def _parser(*, math: bool) -> MarkdownIt:
    parser = MarkdownIt().enable("strikethrough").enable("table")
    parser.block.ruler.before("html_block", "think", _think)
    parser.core.ruler.after("inline", "inline_html_as_text", _inline_html_as_text)
    if math:
        render_math.use(parser)
    return parser


PARSER = _parser(math=True)
PLAIN_PARSER = _parser(math=False)  # math = false: TeX is left as the markdown it is


def lines(console: Console, markdown: Markdown) -> list[list[Segment]]:
    """``markdown`` rendered, each line without the spaces rich pads it with to the full width.

    A padded line leaves a blank row under it once a terminal that reflows is narrowed. Padding
    that has a background (a code block's) is kept: it is what draws the block."""
    return [_trim(line) for line in console.render_lines(markdown, pad=False)]


def _trim(line: list[Segment]) -> list[Segment]:
    line = list(line)
    while line and not line[-1].control and not (line[-1].style and line[-1].style.bgcolor):
        last = line.pop()
        if last.text.rstrip():
            line.append(Segment(last.text.rstrip(), last.style))
            break
    return line


class Markdown(rich_markdown.Markdown):
    """rich's Markdown with the elements above, parsed by PARSER, links shown with their URL."""

    elements: ClassVar[dict[str, type[rich_markdown.MarkdownElement]]] = {
        **rich_markdown.Markdown.elements,
        "html_block": HtmlBlock, "think": ThinkBlock, "fence": CodeBlock, "code_block": CodeBlock,
        "table_open": TableElement, "math_block": render_math.MathBlock,
    }

    def __init__(self, markup: str, *, code_theme: str = "monokai", math: bool = True) -> None:
        # rich's __init__ builds a new parser for every call; the stream makes one per paint
        self.markup = markup
        self.parsed = (PARSER if math else PLAIN_PARSER).parse(markup)
        self.code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = False  # a link shows its real target, whatever its text says
        self.inline_code_lexer = None
        self.inline_code_theme = code_theme

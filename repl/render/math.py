r"""Math in markdown: where TeX is found (markdown-it rules) and how it is shown (repl.render.tex).

Inline ``$...$`` follows pandoc, so that money and shell variables stay text: an opening ``$`` has
a non-space right after it, the closing one a non-space right before it and no digit after it
(``$5 and $10`` is no formula). ``\(...\)`` and ``$$...$$`` are inline too, and ``\[...\]`` when
it holds some TeX (``\[1\]`` is an escaped ``[1]``). A line that starts with ``$$`` or ``\[``
opens a display block which, as a code fence, runs to its closing line or, unclosed, to the end:
a streamed formula is one block, never printed half-open. Code spans and blocks are found first
and hold no math. TeX that cannot be converted is shown as it was written.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from rich import markdown as rich_markdown
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from repl.texspan import CLOSERS, span

INDENT = "    "  # a display formula stands apart, as in print


def use(parser: MarkdownIt) -> None:
    """Teach ``parser`` math: display blocks, inline spans, and their conversion."""
    parser.block.ruler.before("fence", "math_block", _block,
                              {"alt": ["paragraph", "reference", "blockquote", "list"]})
    parser.inline.ruler.before("escape", "math_inline", _inline)
    parser.core.ruler.after("inline", "math_inline_text", _inline_as_text)


# -- finding it -----------------------------------------------------------------------------------

def _inline(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] not in "$\\":
        return False
    found = span(state.src[:state.posMax], state.pos)
    if found is None:
        if state.src.startswith("$$", state.pos):  # not half of it taken for a $ formula
            state.pending += "$$"
            state.pos += 2
            return True
        return False
    opener, end = found
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = state.src[state.pos + len(opener):end - len(CLOSERS[opener])]
        token.markup = opener
    state.pos = end
    return True


def _block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    first = state.bMarks[start] + state.tShift[start]
    line = state.src[first:state.eMarks[start]]
    opener = next((o for o in ("$$", "\\[") if line.startswith(o)), None)
    if opener is None or state.sCount[start] - state.blkIndent >= 4:
        return False
    closer, rest = CLOSERS[opener], line[len(opener):]
    if closer in rest:  # one line: $$ x $$
        body, _, after = rest.partition(closer)
        if after.strip() or not body.strip():
            return False  # text after it: an inline formula in a paragraph
        last, closed = start + 1, True
    else:
        last, body, closed = _to_closer(state, start, end, closer)
        if last < 0:
            return False
        body = rest + "\n" + body
    if silent:
        return True
    token = state.push("math_block", "math", 0)
    token.block, token.content, token.markup = True, body, opener
    token.map, token.meta = [start, last], {"closed": closed}
    state.line = last
    return True


def _to_closer(state: StateBlock, start: int, end: int, closer: str) -> tuple[int, str, bool]:
    """The lines after ``start`` up to the closing one: (the line after, their text, closed)."""
    line = start + 1
    while line < end:
        first, stop = state.bMarks[line] + state.tShift[line], state.eMarks[line]
        if first < stop and state.sCount[line] < state.blkIndent:
            break  # out of the list item or quote it opened in
        text = state.src[first:stop]
        if closer in text:
            before, _, after = text.partition(closer)
            if after.strip():
                return -1, "", False
            inner = state.getLines(start + 1, line, state.sCount[start], True)
            return line + 1, inner + before, True
        line += 1
    return line, state.getLines(start + 1, line, state.sCount[start], False), False


# -- showing it -----------------------------------------------------------------------------------

def source(token: Token) -> str:
    closer = CLOSERS[token.markup] if token.meta.get("closed", True) else ""
    return f"{token.markup}{token.content}{closer}"


def _inline_as_text(state: StateCore) -> None:
    """Each inline formula becomes its text, or its TeX with the delimiters when unconvertible."""
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = [_as_text(child) if child.type == "math_inline" else child
                              for child in block.children]


def _as_text(token: Token) -> Token:
    from repl.render.tex import to_text  # pylatexenc, once a formula is met: not at start-up

    return Token("text", "", 0, content=to_text(token.content) or source(token))


class MathBlock(rich_markdown.MarkdownElement):
    """A display formula: its lines, indented, or its TeX as written when unconvertible."""

    new_line = True

    def __init__(self, token: Token) -> None:
        self.token = token

    @classmethod
    def create(cls, markdown: rich_markdown.Markdown, token: Token) -> MathBlock:
        return cls(token)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from repl.render.tex import to_text  # pylatexenc, once a formula is met

        closed = self.token.meta.get("closed", False)
        shown = to_text(self.token.content, display=True) if closed else None
        if shown is None:
            yield Text(source(self.token).strip("\n"), style="markdown.paragraph")
        else:
            yield Text("\n".join(INDENT + line for line in shown.splitlines()),
                       style="markdown.paragraph")

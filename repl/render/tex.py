"""TeX math as readable Unicode text: pylatexenc's latex-to-text, plus what it lacks.

pylatexenc knows the symbols (Greek, operators, arrows, fonts); added here: sub- and superscripts
(Unicode's where every character has one, else ``^(...)``), fractions and roots that keep their
grouping, matrices and alignments laid out in rows, and a few names it does not know. A macro or
environment that it does not know either makes the whole formula unconvertible (``None``): its
default is to drop the name silently, and a formula missing a ``\\neq`` says something else.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from typing import Any

from pylatexenc import latex2text, latexwalker, macrospec
from rich.cells import cell_len

# pylatexenc warns through logging about TeX it trips on; with no handler anywhere, Python would
# print that on the terminal, under the answer (the TeX itself is shown as written instead)
logging.getLogger("pylatexenc").addHandler(logging.NullHandler())

# names pylatexenc does not know: shown as themselves, as nothing (sizes, spacing), as symbols
_NAMED = "arg det deg dim ker hom gcd lcm Pr cot sec csc coth sgn"
_INVISIBLE = ("left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr "
              "displaystyle textstyle scriptstyle limits nolimits nonumber notag hline")
_SYMBOLS = {"ne": "NOT EQUAL TO", "implies": "LONG RIGHTWARDS DOUBLE ARROW",
            "iff": "LONG LEFT RIGHT DOUBLE ARROW", "|": "DOUBLE VERTICAL LINE"}
_WITH_ARGS = {"binom": ("{{", "C(%s, %s)"), "boxed": ("{", "%s"), "operatorname": ("*{", "%(2)s"),
              "tag": ("*{", " (%(2)s)"), "pmod": ("{", " (mod %s)")}
# the grids: their brackets (one row, then the top, middle and bottom pieces of a taller one)
_BRACKETS = {"pmatrix": ("()", "⎛⎜⎝", "⎞⎟⎠"), "bmatrix": ("[]", "⎡⎢⎣", "⎤⎥⎦"),
             "Bmatrix": ("{}", "⎧⎨⎩", "⎫⎬⎭"), "vmatrix": ("||", "│││", "│││"),
             "Vmatrix": ("‖‖", "‖‖‖", "‖‖‖"), "cases": ("{ ", "⎧⎨⎩", "   ")}
_GRIDS = ("matrix", "smallmatrix", "array", "aligned", "align", "align*", "split", "gathered",
          "gather", "gather*", *_BRACKETS)
_ALIGNED = ("aligned", "align", "align*", "split")  # pairs of columns: right, then left
GRID_LINE = "\x00"  # marks a line of a matrix in a display formula, until it is laid out


class Unconvertible(Exception):
    """The formula holds something pylatexenc would drop."""


def to_text(tex: str, *, display: bool = False) -> str | None:
    """``tex`` (a formula, without its delimiters) as Unicode; None if it cannot be converted.

    ``display``: a formula on its own lines, whose matrices may take several lines."""
    return _convert(tex, display)


@functools.lru_cache(maxsize=4096)  # a streamed paragraph is converted again at every paint
def _convert(tex: str, display: bool) -> str | None:
    try:
        nodes = latexwalker.LatexWalker(tex, latex_context=_walker_context(),
                                        tolerant_parsing=False).get_latex_nodes()[0]
        text: str = _converter(display).nodelist_to_text(nodes)
    except Exception:  # whatever pylatexenc trips on, the TeX is shown instead
        return None
    if not display:
        return " ".join(text.replace(GRID_LINE, "").split())
    # a grid's lines keep their alignment; the text around a grid loses the spaces it had there
    shown = [line[1:].rstrip() if line.startswith(GRID_LINE) else line.strip()
             for line in text.splitlines()]
    return "\n".join(line for line in shown if line)


# -- the converter ------------------------------------------------------------------------------

class _ToText(latex2text.LatexNodes2Text):  # type: ignore[misc]  # pylatexenc is untyped
    """LatexNodes2Text with sub- and superscripts, and the spaces after bare macros kept."""

    def __init__(self, *, display: bool) -> None:
        super().__init__(latex_context=_text_context(), math_mode="text")
        self.display = display

    def nodelist_to_text(self, nodelist: list[Any]) -> str:
        out: list[str] = []
        mark = ""  # a ^ or _ waiting for what it raises or lowers
        space = ""  # what a bare macro followed by a space stood for: a space is owed after it
        previous: Any = None
        for node in nodelist:
            if node.isNodeType(latexwalker.LatexCharsNode):
                chars = node.chars
                if _is_delimiter_macro(previous) and chars.startswith("."):
                    chars = chars[1:]  # \left. : no delimiter
                for char in chars:
                    if mark and char.isspace():
                        continue
                    if mark:
                        out.append(script(mark, char))
                        mark = ""
                    elif char in "^_":
                        mark, space = char, ""
                    else:
                        out.append(_space(space, char))
                        out.append(char)
                        space = ""
            else:
                piece = self.node_to_text(node)
                if mark:
                    out.append(script(mark, piece))
                    mark = ""
                else:
                    out.append(_space(space, piece))
                    out.append(piece)
                space = piece if self._is_bare_macro_node(node) and node.macro_post_space else ""
            previous = node
        out.append(mark)  # one left at the end is shown as typed
        return "".join(out)


def _is_delimiter_macro(node: Any) -> bool:
    return (node is not None and node.isNodeType(latexwalker.LatexMacroNode)
            and node.macroname in ("left", "right", "middle"))


def _space(before: str, after: str) -> str:
    r"""The space owed after the macro that stood for ``before``: none before a space, none
    between a letter and what it multiplies (``\pi r`` is πr, ``\partial f`` ∂f, as TeX sets
    them), else one."""
    if not before or not after or after[0].isspace():
        return ""
    tight = len(before) == 1 and _letter(before) and (_letter(after[0]) or after[0].isdigit())
    return "" if tight else " "


def _letter(char: str) -> bool:
    return unicodedata.category(char)[0] == "L" or char in "∂∇"


def _unknown(node: Any) -> str:
    raise Unconvertible(node.latex_verbatim())


def _frac(node: Any, l2tobj: _ToText) -> str:
    top, bottom = (l2tobj.node_arg_to_text(node, k).strip() for k in (0, 1))
    return _fractions().get((top, bottom)) or f"{_atom(top)}/{_atom(bottom)}"


def _sqrt(node: Any, l2tobj: _ToText) -> str:
    degree, body = (l2tobj.node_arg_to_text(node, k).strip() for k in (0, 1))
    sign = {"": "√", "2": "√", "3": "∛", "4": "∜"}.get(degree) or script("^", degree) + "√"
    return sign + _atom(body)


def _atom(text: str) -> str:
    """``text``, in parentheses unless it is one term (``x²``, ``2π``, ``(a+b)``)."""
    if not any(char.isspace() or char in "+-−±∓=<>≤≥≠·×÷/,;:" for char in text):
        return text
    if text.startswith("(") and text.endswith(")") and _closes_at_end(text):
        return text
    return f"({text})"


def _closes_at_end(text: str) -> bool:
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return i == len(text) - 1
    return False


def _grid(node: Any, l2tobj: _ToText) -> str:
    """A matrix, cases or an alignment: one line a row in display math, ``(a b; c d)`` inline."""
    rows: list[list[str]] = [[]]
    cell: list[Any] = []
    for child in node.nodelist:
        if child.isNodeType(latexwalker.LatexSpecialsNode) and child.specials_chars == "&":
            rows[-1].append(_cell(l2tobj, cell))
            cell = []
        elif child.isNodeType(latexwalker.LatexMacroNode) and child.macroname == "\\":
            rows[-1].append(_cell(l2tobj, cell))
            rows.append([])
            cell = []
        else:
            cell.append(child)
    rows[-1].append(_cell(l2tobj, cell))
    if rows[-1] == [""] and len(rows) > 1:  # a trailing \\
        rows.pop()
    name = node.environmentname
    one, left, right = _BRACKETS.get(name, ("", "", ""))
    if not l2tobj.display:
        gap = " " if name in _ALIGNED else ", " if name == "cases" else " "
        inside = "; ".join(gap.join(cell for cell in row if cell) for row in rows)
        return f"{one[:1].strip()}{inside}{one[1:].strip()}" if one else inside
    how = "pairs" if name in _ALIGNED else "left" if name == "cases" else "center"
    lines = _lay_out(rows, how=how, gap=" " if how == "pairs" else "  ")
    if len(lines) == 1:
        left, right = one[:1], one[1:]
    shown = [f"{_piece(left, i, len(lines))}{line}{_piece(right, i, len(lines))}".rstrip()
             for i, line in enumerate(lines)]
    return "".join(f"\n{GRID_LINE}{line}" for line in shown) + "\n"


def _cell(l2tobj: _ToText, nodes: list[Any]) -> str:
    """A cell on one line (a matrix in a matrix is flattened)."""
    return " ".join(l2tobj.nodelist_to_text(nodes).replace(GRID_LINE, "").split())


def _lay_out(rows: list[list[str]], *, how: str, gap: str) -> list[str]:
    """The rows with their columns aligned: centred, left, or (``pairs``) TeX's alignments,
    where a column ending before ``&=`` is right-aligned and the next left-aligned."""
    width = max(map(len, rows))
    widths = [max((cell_len(row[k]) for row in rows if k < len(row)), default=0)
              for k in range(width)]
    lines = []
    for row in rows:
        cells = [*row, *[""] * (width - len(row))]
        sides = [("right" if k % 2 == 0 else "left") if how == "pairs" else how
                 for k in range(width)]
        lines.append(gap.join(_pad(cell, size, side)
                              for cell, size, side in zip(cells, widths, sides, strict=True)))
    return lines


def _pad(cell: str, size: int, how: str) -> str:
    room = size - cell_len(cell)
    before = {"right": room, "left": 0, "center": (room + 1) // 2}[how]  # 10 over 1, not 1
    return " " * before + cell + " " * (room - before)


def _piece(pieces: str, row: int, rows: int) -> str:
    """The bracket piece for ``row`` of ``rows``: top, middle(s), bottom (the brace's middle
    piece once, on the middle row; its plain stretches elsewhere)."""
    if not pieces:
        return ""
    if row == 0:
        return pieces[0]
    if row == rows - 1:
        return pieces[2]
    if pieces[1] in "⎨⎬" and row != rows // 2:
        return "⎪" if pieces[0] != " " else " "
    return pieces[1]


# -- sub- and superscripts, fractions: Unicode's own, found by their decompositions --------------

def script(mark: str, text: str) -> str:
    """``text`` raised (``mark`` ^) or lowered (_): in Unicode's sub- or superscript characters
    where each has one, else as ``^x`` / ``^(xy)``."""
    body = text.strip()
    if mark == "^" and body in ("∘", "°"):
        return "°"  # 90^\circ
    table = _scripts()[mark]
    compact = body.replace(" ", "").replace("-", "−")
    if compact and all(char in table for char in compact):
        return "".join(table[char] for char in compact)
    return mark + (body if len(body) == 1 else f"({body})")


@functools.cache
def _scripts() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {"^": {}, "_": {}}
    for code in range(0xA0, 0x2D00):
        kind, _, base = unicodedata.decomposition(chr(code)).partition(" ")
        mark = {"<super>": "^", "<sub>": "_"}.get(kind)
        ordinal = code in (0xAA, 0xBA)  # ª º: the ordinals, not ᵃ ᵒ
        if mark and " " not in base and not ordinal:
            tables[mark][chr(int(base, 16))] = chr(code)
    for table in tables.values():
        table.update({char: char for char in list(table.values())})  # already raised: kept
    tables["^"].update({char: char for char in "′″‴'"})  # f^\prime
    return tables


@functools.cache
def _fractions() -> dict[tuple[str, str], str]:
    found = {}
    for code in [*range(0xBC, 0xBF), *range(0x2150, 0x215F), 0x2189]:
        kind, *parts = unicodedata.decomposition(chr(code)).split()
        if kind == "<fraction>":
            top, bottom = "".join(chr(int(p, 16)) for p in parts).split("\u2044")
            found[top, bottom] = chr(code)
    return found


# -- pylatexenc's contexts, with the additions ----------------------------------------------------

@functools.cache
def _walker_context() -> Any:
    context = latexwalker.get_default_latex_context_db()
    specs = [macrospec.MacroSpec(name, args) for name, (args, _) in _WITH_ARGS.items()]
    specs += [macrospec.MacroSpec(name, "{{") for name in ("dfrac", "tfrac")]
    context.add_context_category("chatrepl", macros=specs, prepend=True)
    return context


@functools.cache
def _text_context() -> Any:
    spec = latex2text.MacroTextSpec
    macros = [spec(name, name) for name in _NAMED.split()]
    macros += [spec(name, "") for name in _INVISIBLE.split()]
    macros += [spec(name, unicodedata.lookup(char)) for name, char in _SYMBOLS.items()]
    macros += [spec(name, text) for name, (_, text) in _WITH_ARGS.items()]
    macros += [spec(name, _frac) for name in ("frac", "dfrac", "tfrac")] + [spec("sqrt", _sqrt)]
    grids = [latex2text.EnvironmentTextSpec(name, _grid) for name in _GRIDS]
    context = latex2text.get_default_latex_context_db()
    context.add_context_category("chatrepl", macros=macros, environments=grids, prepend=True)
    context.set_unknown_macro_spec(spec("", _unknown))
    context.set_unknown_environment_spec(latex2text.EnvironmentTextSpec("", _unknown))
    return context


@functools.cache
def _converter(display: bool) -> _ToText:
    return _ToText(display=display)

"""TeX math in answers, shown as Unicode: the conversions, what is never taken for math, TeX kept
when it cannot be converted, a streamed formula committed once, ``math = false``, and the App."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session, run
from rich.console import Console
from rich.markdown import Markdown as RichMarkdown
from test_render import full, streamed, terminal_text

from repl import config as config_mod
from repl.render.markdown import Markdown
from repl.render.stream import MarkdownStream
from repl.render.tex import to_text
from repl.render.ui import UI

CONVERSIONS = {
    r"\alpha^2 + \frac{1}{2}": "α² + ½",
    r"x_1 + x^{10} - y^{-1}": "x₁ + x¹⁰ - y⁻¹",
    r"a_{ij} + x^T": "aᵢⱼ + xᵀ",
    r"\sum_{i=1}^n i": "∑ᵢ₌₁ⁿ i",
    r"\int_0^1 f(x)\,dx": "∫₀¹ f(x) dx",
    r"\Gamma(\alpha) \cdot \beta \times \pi r^2": "Γ(α) · β × πr²",
    r"x \to \infty \Rightarrow y \leq z \neq w": "x → ∞ ⇒ y ≤ z ≠ w",
    r"\forall x \in \mathbb{R}^n": "∀ x ∈ ℝⁿ",
    r"\sqrt{2} + \sqrt{x+1} + \sqrt[3]{8}": "√2 + √(x+1) + ∛8",
    r"\frac{a+b}{c} = \frac{3}{4}": "(a+b)/c = ¾",
    r"\frac{\partial f}{\partial x}": "∂f/∂x",
    r"90^\circ": "90°",
    # what has no Unicode sub- or superscript keeps the mark
    r"e^{i\pi}": "e^(iπ)",
    r"x_q": "x_q",
    r"\lim_{x \to 0} \frac{\sin x}{x} = 1": "lim_(x → 0) (sin x)/x = 1",
    r"\left( \frac{1}{n} \right)^2": "( 1/n )²",
    r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}": "(1 2; 3 4)",  # inline: on one line
}

DISPLAYED = {
    r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}": "⎛1  2⎞\n⎝3  4⎠",
    r"A = \begin{bmatrix} 1 & 0 \\ 0 & 10 \end{bmatrix}": "A =\n⎡1   0⎤\n⎣0  10⎦",
    r"\begin{aligned} f(x) &= (x+1)^2 \\ &= x^2 + 2x + 1 \end{aligned}":
        "f(x) = (x+1)²\n     = x² + 2x + 1",
    r"|x| = \begin{cases} x & x \geq 0 \\ -x & \text{otherwise} \end{cases}":
        "|x| =\n⎧x   x ≥ 0\n⎩-x  otherwise",
}


@pytest.mark.parametrize("tex", sorted(CONVERSIONS))
def test_tex_becomes_unicode(tex: str) -> None:
    assert to_text(tex) == CONVERSIONS[tex]


@pytest.mark.parametrize("tex", sorted(DISPLAYED))
def test_displayed_matrices_and_alignments_take_their_own_lines(tex: str) -> None:
    assert to_text(tex, display=True) == DISPLAYED[tex]


def screen(text: str, *, math: bool = True, width: int = 80) -> str:
    """What UI shows for an answer (as /history and an opened thread show it), plain text."""
    out = io.StringIO()
    UI(Console(file=out, width=width, color_system=None), math=math).markdown(text)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def test_every_delimiter_is_converted_in_an_answer() -> None:
    text = ("Inline $\\alpha^2 + \\frac{1}{2}$ and \\(x_1\\) and $$y^2$$.\n\n"
            "$$\n\\sum_{i=1}^n i\n$$\n\n\\[ \\sqrt{x} \\]\n\n> quoted $a_i$\n\n- item $b^2$")
    assert screen(text).splitlines() == [
        "Inline α² + ½ and x₁ and y².", "", "    ∑ᵢ₌₁ⁿ i", "", "    √x", "",
        "▌ quoted aᵢ", "", " • item b²"]


NOT_MATH = {
    "money": "It costs $5 and $10, or $5-$10 at most.",
    "money in a sentence": "Between $20,000 and $30,000 a year.",
    "shell": "Run echo $PATH, then cd $HOME and set $EDITOR.",
    "shell paths": "Copy it to $HOME/$USER/notes and $XDG_DATA_HOME/$APP.",
    "a spaced dollar": "A $ x $ is no formula.",
    "escaped": "Escaped \\$x\\$ stays.",
    "escaped brackets": "See \\[1\\] and a\\[0\\].",  # no TeX inside: not \[...\] math
}


@pytest.mark.parametrize("name", sorted(NOT_MATH))
def test_money_and_shell_variables_are_never_math(name: str) -> None:
    text = NOT_MATH[name]
    assert screen(text) == screen(text, math=False)
    assert "$" in screen(text) or "[1]" in screen(text)


def test_code_spans_and_blocks_are_never_math() -> None:
    text = ("Use `$x^2$` or `echo $HOME`.\n\n```sh\nexport A=$HOME/$x^2$\necho $A$B\n```\n\n"
            "    indented $y_1$\n")
    shown = screen(text)
    for kept in ("$x^2$", "echo $HOME", "export A=$HOME/$x^2$", "echo $A$B", "indented $y_1$"):
        assert kept in shown
    assert "x²" not in shown and "y₁" not in shown


UNCONVERTIBLE = {
    "an unknown macro": ("Here $\\foo{x} + 1$ ends.", "$\\foo{x} + 1$"),
    "unbalanced braces": ("Here $x^{2$ ends.", "$x^{2$"),
    "an unknown environment": ("Here \\(\\begin{weird} a \\end{weird}\\) ends.",
                               "\\(\\begin{weird} a \\end{weird}\\)"),
    "a display block": ("$$\n\\weird{y} = 1\n$$", "$$\n\\weird{y} = 1\n$$"),
    "a display block never closed": ("Then:\n\n$$\nx^2 +", "$$\nx^2 +"),
}


@pytest.mark.parametrize("name", sorted(UNCONVERTIBLE))
def test_what_cannot_be_converted_is_shown_as_the_tex_it_is(name: str) -> None:
    text, tex = UNCONVERTIBLE[name]
    assert tex in screen(text)


def test_math_false_shows_the_markdown_as_before() -> None:
    text = "Euler: $e^{i\\pi} + 1 = 0$\n\n$$\nx^2\n$$"
    assert "e^{i\\pi}" in screen(text, math=False) and "x^2" in screen(text, math=False)
    plain = io.StringIO()
    Console(file=plain, width=80, color_system=None).print(RichMarkdown(text))
    assert screen(text, math=False) == "\n".join(
        line.rstrip() for line in plain.getvalue().splitlines())


def test_math_false_in_the_config_file(isolated: dict[str, str]) -> None:
    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    assert config_mod.load(env={}).math is True
    path.write_text("math = false\n")
    assert config_mod.load(env={}).math is False
    assert "\n# math = " in config_mod.CONFIG_TEMPLATE


# -- streaming -------------------------------------------------------------------------------------

STREAMED = {
    "display": "The sum:\n\n$$\n\\sum_{i=1}^n i = \\frac{n(n+1)}{2}\n$$\n\nSo it grows.",
    "display after a line": "The sum:\n$$\n\\sum_{i=1}^n i\n$$\nthen",
    "brackets": "Matrix:\n\n\\[\nA = \\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}\n\\]\n\nok",
    "inline": "Euler: $e^{i\\pi} + 1 = 0$, and \\(\\alpha^2\\) costs $5 and $10.\n\nNext.",
    "blank line inside": "$$\na = 1\n\nb = 2\n$$\n\nafter",
    "in a list": "- one $x_1$\n- two\n  $$\n  y^2\n  $$\n- three",
}


@pytest.mark.parametrize("name", sorted(STREAMED))
def test_streamed_math_ends_as_the_full_render(name: str) -> None:
    text = STREAMED[name]
    want = full(text)
    assert streamed(list(text)) == want
    for k in range(len(text) + 1):
        assert streamed([text[:k], text[k:]]) == want, f"split at {k}: {text[:k]!r}"


class Recording(MarkdownStream):
    """A stream that notes the source of every block it prints for good."""

    printed: list[str]

    def _print_block(self, md: Markdown) -> None:
        self.printed.append(md.markup)
        super()._print_block(md)


def printed_blocks(deltas: list[str]) -> tuple[list[str], list[str]]:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    console = Console(file=out, force_terminal=True, width=80, height=24, color_system=None)
    now = [0.0]
    stream = Recording(console, clock=lambda: now[0])  # every delta is due a repaint
    stream.printed = []
    stream.start()
    for delta in deltas:
        stream.feed(delta)
        now[0] += 1.0
    stream.finish()
    return stream.printed, terminal_text(raw.getvalue(), 80, 24)


@pytest.mark.parametrize("name", ["display", "brackets", "blank line inside"])
def test_a_streamed_display_formula_is_committed_once_and_whole(name: str) -> None:
    text = STREAMED[name]
    printed, rows = printed_blocks(list(text))
    opener = "$$" if "$$" in text else "\\["
    with_math = [block for block in printed if opener in block]
    assert len(with_math) == 1
    assert with_math[0].count("$$") == 2 or "\\]" in with_math[0]  # never half-open
    assert "".join(printed) == text
    assert not any("\\" in row or "$$" in row for row in rows)


def test_the_live_view_shows_a_formula_converted_once_it_closes() -> None:
    text = "Euler: $e^{i\\pi} + 1 = 0$ and more"
    _, rows = printed_blocks([text[:12], text[12:27], text[27:]])
    assert rows == ["Euler: e^(iπ) + 1 = 0 and more"]


# -- the App -------------------------------------------------------------------------------------

ANSWER = ("The identity $\\alpha^2 + \\frac{1}{2}$ costs $5 and $10; run `echo $HOME`.\n\n"
          "$$\n\\sum_{i=1}^n i = \\frac{n(n+1)}{2}\n$$\n")


def copied(out: str) -> str:
    found = re.search(r"\x1b\]52;c;([A-Za-z0-9+/=]+)\x07", out)
    assert found, out
    return base64.b64decode(found.group(1)).decode()


def test_the_app_shows_math_converted_and_keeps_the_source(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path) -> None:
    async def go() -> None:
        s = await Session(terminal=True).start("t")
        server.queue(Reply(ANSWER, pieces=9))
        live = await s.line("a formula please")
        assert "α² + ½" in live and "∑ᵢ₌₁ⁿ i = (n(n+1))/2" in live
        assert "\\frac" not in live and "costs $5 and $10" in live and "echo $HOME" in live
        assert copied(await s.line("/copy")) == ANSWER  # the source, not the screen
        exported = tmp_path / "t.md"
        await s.line(f"/export {exported}")
        assert "$\\alpha^2 + \\frac{1}{2}$" in exported.read_text()
        assert [m.content for m in s.store.messages("t")][-1] == ANSWER
        history = await s.line("/history")
        assert "α² + ½" in history and "∑ᵢ₌₁ⁿ" in history and "\\frac" not in history
        await s.quit()

        opened = await Session(terminal=True).start("t")  # the last turns, shown on opening
        assert "α² + ½" in opened.text and "\\frac" not in opened.text
        await opened.quit()

        plain = await Session(terminal=True, config=replace(config_mod.load(), math=False)
                              ).start("t")
        assert "$\\alpha^2 + \\frac{1}{2}$" in plain.text and "α²" not in plain.text
        await plain.quit()

    run(go)

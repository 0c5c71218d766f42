"""What users of other terminal chat clients complain about, kept out of chatrepl: a JSONL store
broken by U+2028 (a peer's), scrollback wiped while an answer streams."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI, Reply
from pty_session import Terminal, terminals
from stores import BACKENDS

from repl.thread import Message

ODD = "line\u2028separator\u2029paragraph\x00nul\r\ncrlf\u0085next \U0001f600 \ud7ff end"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_line_separators_and_nul_round_trip_in_every_store(backend: str, tmp_path: Path) -> None:
    store = BACKENDS[backend](tmp_path)
    store.create(ODD[:4])
    parts = ({"type": "text", "text": ODD}, {"type": "text", "text": "\u2028"})
    store.append_many(ODD[:4], [Message("user", ODD, parts=parts, fields={"name": ODD}),
                                Message("assistant", ODD, reasoning=ODD, meta={"k": ODD})])
    store.close()
    again = BACKENDS[backend](tmp_path)  # another process would read it so
    question, answer = again.messages(ODD[:4])
    assert (question.content, question.parts, question.fields) == (ODD, parts, {"name": ODD})
    assert (answer.content, answer.reasoning, answer.meta) == (ODD, ODD, {"k": ODD})
    assert {h.thread for h in again.search("separator")} == {ODD[:4]}
    again.close()


@pytest.fixture
def chatrepl(api_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    yield from terminals(api_env, tmp_path)


@pytest.mark.slow
def test_streaming_never_wipes_the_scrollback(chatrepl: Callable[..., Terminal],
                                              server: FakeOpenAI) -> None:
    """No ESC[2J (erase the screen) or ESC[3J (erase the scrollback) is ever written while an
    answer streams, however tall it is and however often the window is resized."""
    text = "\n\n".join(f"paragraph {i}: " + "words " * 30 for i in range(80))
    server.queue(Reply(text=text, pieces=400, delay=0.004))
    term = chatrepl()
    term.mark()
    term.send("a tall answer\r")
    for rows, cols in ((24, 80), (40, 120), (30, 100)):
        term.pump(0.3)
        term.child.setwinsize(rows, cols)
    term.wait(lambda: "paragraph 79" in term.since_mark, "the end of the answer", timeout=30)
    term.pump(0.5)
    assert "\x1b[2J" not in term.since_mark and "\x1b[3J" not in term.since_mark
    assert term.quit() == 0


def test_the_defaults_read_on_a_light_background_as_on_a_dark_one() -> None:
    """A code block paints its own background behind every coloured character, so its theme
    reads the same on any terminal; search matches are reversed, not yellow (unreadable on
    white); everything else is the terminal's own colour, bold or dim."""
    import io

    from rich.console import Console

    from repl.render import UI
    from repl.thread import HIGHLIGHT, Hit

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system="truecolor")
    ui = UI(console, term="xterm")
    from repl.render.markdown import Markdown, lines

    markdown = Markdown("```python\ndef f(x):\n    return 'text'  # c\n```\n")
    painted = [s for line in lines(console, markdown) for s in line
               if s.text.strip() and s.style is not None and s.style.color is not None]
    assert painted and all(s.style is not None and s.style.bgcolor is not None for s in painted)
    hit = Hit(thread="t", message_id=1, role="user", turn=1, created_at=0.0,
              snippet=f"a {HIGHLIGHT[0]}match{HIGHLIGHT[1]} b")
    ui.hits([hit])
    assert "\x1b[1;7mmatch" in out.getvalue() and "\x1b[1;33m" not in out.getvalue()
    # a warning's word, and the meter's colours (backgrounds in the reversed bar), never yellow
    from repl.app import BAR_STYLE

    ui.warn("the disk is full")
    assert "warning: " in out.getvalue() and not re.search(r"\x1b\[[0-9;]*(33|93)[;m]",
                                                            out.getvalue())
    colours = [style for _, style in BAR_STYLE.style_rules]
    assert colours and not any("yellow" in style for style in colours)

"""Names shown and sent (issue 18 items 12, 13; issue 20 item 15): every name in a question or a
menu reaches the terminal as one clean line; MCP tools whose API names would collide get their
own; a tool has one name everywhere it is shown. Real MCP servers (tests/mcp_servers), the App
through pipe input, and a prompt_toolkit output that records what a terminal would be sent."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import unicodedata
from pathlib import Path

from fakeserver import FakeOpenAI, Reply
from harness import Session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.output.vt100 import Vt100_Output

from repl.sanitize import clean_line
from repl.services import start_tools
from repl.tools.toolbox import STARTING, Toolbox

SERVERS = Path(__file__).parent / "mcp_servers"
LONG = "x" * 70  # as in tests/mcp_servers/names.py
VALID = re.compile(r"[a-zA-Z0-9_-]{1,64}\Z")  # OpenAI's rule for a function's name
# what must never reach a terminal from a name: bidi controls, invisible format characters
HIDDEN = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u2028\u2029]")
WIPE = "wipe_home" + "\n" * 40 + "raw.note"
BIDI = "report\u202eexe.txt\u2066"


def configure(isolated: dict[str, str], *servers: tuple[str, str], approve: str = "") -> None:
    """config.toml with each (name, script in tests/mcp_servers) as a stdio MCP server."""
    text = "".join(f"[mcp.servers.{name}]\n"
                   f"command = {json.dumps([sys.executable, str(SERVERS / script)])}\n{approve}\n"
                   for name, script in servers)
    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class Screen:
    """A prompt_toolkit output whose bytes are kept: what a terminal would have been sent."""

    def __init__(self) -> None:
        self.file = io.StringIO()
        self.output = Vt100_Output(self.file, lambda: Size(rows=40, columns=400), term="xterm")

    @property
    def text(self) -> str:
        return self.file.getvalue()


async def session(screen: Screen | None = None) -> Session:
    """The App with its MCP servers started as the REPL starts them, once they are up."""
    s = Session(output=screen.output if screen else None)
    s.given(choose=s.ctx.ask.choose,  # type: ignore[attr-defined]
            tools=Toolbox(s.config.mcp, timeout=s.config.tool_timeout,
                          log_path=s.config.mcp_log_path))
    start_tools(s.ctx)
    await s.start("t")
    box = s.ctx.tools
    await s.until(lambda: all(v.state != STARTING for v in box.servers.values()), timeout=30)
    return s


async def done(s: Session) -> None:
    await s.quit()
    assert s.ctx.tools is not None
    await s.ctx.tools.aclose()


def offered(server: FakeOpenAI, index: int = 0) -> dict[str, str]:
    """The tools a request offered: each one's description (which names the MCP tool, in
    names.py) -> the name the model was told to call it by."""
    return {t["function"]["description"]: t["function"]["name"]
            for t in server.requests[index]["tools"]}


def results(server: FakeOpenAI) -> list[str]:
    return [m["content"] for m in server.sent_messages() if m["role"] == "tool"]


# -- 12: one clean line in every question and menu ---------------------------------------------

def test_the_approval_question_is_one_clean_line_whatever_the_tool_is_called(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    configure(isolated, ("names", "names.py"))
    screen = Screen()

    async def go() -> None:
        s = await session(screen)
        server.queue(Reply("hi"))
        await s.line("hi")
        sent = offered(server)
        calls = [("c1", sent[f"answers {WIPE!r}"], "{}"), ("c2", sent[f"answers {BIDI!r}"], "{}")]
        server.queue(Reply("", tool_calls=calls, finish="tool_calls"), Reply("ok"))
        await s.line("go")
        await s.line("yes please")  # not an answer: asked again, saying how to answer
        await s.line("n")
        await s.line("n")
        assert f"run names.wipe_home{'␤' * 40}raw.note? [y]es, [n]o" in screen.text
        assert f"(answer y, n or a, then Enter) run names.wipe_home{'␤' * 40}" in screen.text
        assert "run names.report<U+202E>exe.txt<U+2066>? [y]es, [n]o" in screen.text
        assert not HIDDEN.search(screen.text) and not HIDDEN.search(s.text)
        assert f"⚙ names.wipe_home{'␤' * 40}raw.note {{}}" in s.text
        await done(s)

    asyncio.run(go())


async def menu(s: Session, screen: Screen, typed: str, expected: str) -> str:
    """What the completion menu after ``typed`` + Tab sent to the terminal (once ``expected``
    is in it); the line is then dropped (Ctrl-C)."""
    before = len(screen.text)
    s.pipe.send_text(typed + "\t")
    await s.until(lambda: expected in screen.text[before:])
    shown = screen.text[before:]
    s.pipe.send_text("\x03")
    await s.wait_prompt()
    return shown


def test_completion_menus_show_tool_and_model_names_as_clean_lines(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    configure(isolated, ("names", "names.py"))
    server.models = [{"id": f"gpt{c}-4", "object": "model"} for c in ("\u202e", "\n", "\u2066")]
    screen = Screen()

    async def go() -> None:
        s = await session(screen)
        shown = await menu(s, screen, "/tools on names.", "names.a_b")
        assert "names.report<U+202E>exe.txt<U+2066>" in shown
        assert f"names.wipe_home{'␤' * 40}raw.note" in shown
        shown = await menu(s, screen, "/model gpt", "gpt<U+202E>-4")
        assert "gpt␤-4" in shown and "gpt<U+2066>-4" in shown
        assert not HIDDEN.search(screen.text)
        await done(s)

    asyncio.run(go())


def test_a_model_from_a_menu_is_inserted_as_it_is_and_shown_clean(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    """Tab inserts the name itself, so that the command finds it (the audit: a stand-in
    inserted was a name nothing had), and the line being edited shows it clean: no control
    reaches the terminal."""
    server.models = [{"id": "zz\u202e-4", "object": "model"}]
    screen = Screen()

    async def go() -> None:
        s = await Session(output=screen.output).start("t")
        buffer = s.app.session.default_buffer
        s.pipe.send_text("/model z\t")
        await s.until(lambda: buffer.text.startswith("/model zz"))
        assert buffer.text == "/model zz\u202e-4"
        await s.until(lambda: "z<U+202E>-4" in screen.text)
        s.pipe.send_text("\r")
        await s.wait_prompt()
        assert s.ctx.model == "zz\u202e-4"
        assert not HIDDEN.search(screen.text)
        await s.quit()

    asyncio.run(go())


def test_one_clean_line_shows_every_invisible_format_character_and_line_break() -> None:
    hidden = [chr(c) for c in range(0x110000)
              if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")]
    for char in hidden:
        line = clean_line(f"a{char}b")
        assert line.startswith("a") and line.endswith("b") and char not in line, hex(ord(char))
        assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in line)
    assert clean_line("plain name-1_2.x") == "plain name-1_2.x"


# -- 13: API names that collide ----------------------------------------------------------------

def test_tools_whose_api_names_collide_each_get_their_own_and_calls_reach_them(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    configure(isolated, ("names", "names.py"), approve='approve = ["names.*"]')
    colliding = ["a.b", "a_b", f"{LONG}_first", f"{LONG}_second"]

    async def go() -> None:
        s = await session()
        server.queue(Reply("hi"))
        await s.line("hi")
        sent = offered(server)
        assert len(set(sent.values())) == len(sent) == 8
        assert all(VALID.match(name) for name in sent.values()), sent
        assert sent["answers 'a_b'"] == "names__a_b" and sent["answers 'plain'"] == "names__plain"
        calls = [(f"c{i}", sent[f"answers {name!r}"], "{}") for i, name in enumerate(colliding)]
        server.queue(Reply("", tool_calls=calls, finish="tool_calls"), Reply("done"))
        await s.line("call them all")
        assert results(server) == [f"ran {name!r}" for name in colliding]
        await done(s)

    asyncio.run(go())
    first = offered(server)

    async def again() -> None:  # another session: the same names, so stored calls still name them
        s = await session()
        server.queue(Reply("hi"))
        await s.line("hi")
        await done(s)

    asyncio.run(again())
    assert offered(server, -1) == first


def test_a_server_name_with_double_underscores_cannot_shadow_another_servers_tool(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    """x's y__plain and x__y's plain would both be x__y__plain."""
    configure(isolated, ("x", "names.py"), ("x__y", "names.py"), approve='approve = ["x*"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("hi"))
        await s.line("hi")
        names = [t["function"]["name"] for t in server.requests[0]["tools"]]
        assert len(set(names)) == len(names) == 16
        box = s.ctx.tools
        assert box is not None
        by_shown = {t.shown: t.api_name for t in box.tools()}
        calls = [("c1", by_shown["x.y__plain"], "{}"), ("c2", by_shown["x__y.plain"], "{}")]
        server.queue(Reply("", tool_calls=calls, finish="tool_calls"), Reply("done"))
        await s.line("call both")
        assert results(server) == ["ran 'y__plain'", "ran 'plain'"]
        await done(s)

    asyncio.run(go())


# -- issue 20, 15: one name and one spacing everywhere -----------------------------------------

def test_a_tool_of_a_server_named_with_double_underscores_has_one_name_everywhere(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    configure(isolated, ("my__calc", "calc.py"))
    screen = Screen()

    async def go() -> None:
        s = await session(screen)
        server.queue(Reply("", tool_calls=[("c1", "my__calc__add", '{"a":2,"b":3}')],
                           finish="tool_calls"), Reply("It is 5."))
        live = await s.line("add 2 and 3")
        assert 'run my__calc.add? [y]es' in screen.text
        await s.line("y")
        history = await s.line("/history")
        line = '⚙ my__calc.add {"a": 2, "b": 3}'
        assert line in live and line in history
        assert results(server) == ["5"]
        await done(s)
        later = await Session().start("t")  # no servers now: the name was kept with the call
        assert line in await later.line("/history")
        await later.quit()

    asyncio.run(go())

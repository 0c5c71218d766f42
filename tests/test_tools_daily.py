"""MCP tools as a daily user meets them (issue 20, items 9, 16, 20, 21): Ctrl-C and the wait while
servers start, /quit beside a server that never started, mcp.log and the line of a server that
exits, /tools restart and /tools ask. Real MCP servers (tests/mcp_servers), the App through pipe
input, the fake chat server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

from fakeserver import FakeOpenAI, Reply
from harness import Session, write_config
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from test_tools import ADD, calc, done, sent_tools, session

from repl.completion import CommandCompleter
from repl.services import start_tools
from repl.tools.toolbox import STARTING, Toolbox

SERVERS = Path(__file__).parent / "mcp_servers"
NOON = 1796641200.0  # the clock the Toolbox is given: every line of mcp.log says this time


def command(name: str, *args: str) -> str:
    return json.dumps([sys.executable, str(SERVERS / name), *args])


async def starting(*, start_wait: float = 15, clock: float | None = None) -> Session:
    """The App with its servers starting as the REPL starts them, not waited for."""
    s = Session()
    s.given(choose=s.ctx.ask.choose,  # type: ignore[attr-defined]
            tools=Toolbox(s.config.mcp, timeout=s.config.tool_timeout,
                          log_path=s.config.mcp_log_path, start_wait=start_wait,
                          **({} if clock is None else {"clock": lambda: clock})))
    start_tools(s.ctx)
    return await s.start("t")


async def settled(s: Session) -> None:
    box = s.ctx.tools
    assert box is not None
    await s.until(lambda: all(v.state != STARTING for v in box.servers.values()), timeout=30)


async def warning(s: Session, server: str) -> str:
    """The line said about ``server`` (above the prompt, once it is drawn again)."""
    await s.until(lambda: f"MCP server {server} " in s.text)
    return next(x for x in s.text.splitlines() if f"MCP server {server} " in x)


# -- item 9: the wait for the servers ----------------------------------------------------------

def test_ctrl_c_while_the_servers_start_says_nothing_was_answered_and_retry_sends_it(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    write_config(isolated, f"[mcp.servers.stuck]\ncommand = {command('hangs.py')}\n")

    async def go() -> None:
        s = await starting()
        await s.line("hi", wait=False)
        await s.until(lambda: "waiting for the MCP servers to start: stuck…" in s.text)
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        assert "(interrupted before the answer began; /retry sends it again)" in s.text
        assert [m.role for m in s.store.messages("t")] == ["user"] and not server.requests
        before = len(s.text)
        await s.line("/retry", wait=False)  # the wait is over: it is sent at once, stored once
        await s.wait_prompt(timeout=60)  # the first answer imports the SDK and the renderer
        assert "echo: hi" in s.text[before:] and "waiting" not in s.text[before:]
        assert "going on without MCP server stuck: still starting" in s.text[before:]
        assert [m.role for m in s.store.messages("t")] == ["user", "assistant"]
        before = len(s.text)
        await s.line("again")  # said once
        assert "going on without" not in s.text[before:] and "echo: again" in s.text[before:]
        await done(s)

    asyncio.run(go())


def test_the_wait_names_the_servers_and_the_one_it_goes_on_without(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    write_config(isolated, f"[mcp.servers.stuck]\ncommand = {command('hangs.py')}\n")

    async def go() -> None:
        s = await starting(start_wait=0.3)  # the deadline is what is tested
        out = await s.line("hi")
        assert "waiting for the MCP servers to start: stuck…" in out
        assert "going on without MCP server stuck: not started within 0.3 s" in out
        assert "echo: hi" in out
        await done(s)

    asyncio.run(go())


def test_quit_does_not_wait_for_a_server_that_never_started(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    from mcp.client.stdio import PROCESS_TERMINATION_TIMEOUT

    pid_file = Path(isolated["HOME"]) / "stuck.pid"
    write_config(isolated, f"[mcp.servers.stuck]\ncommand = {command('hangs.py', str(pid_file))}\n")

    async def go() -> None:
        s = await starting()
        await s.until(pid_file.exists)
        await s.until(lambda: pid_file.read_text() != "")
        pid = int(pid_file.read_text())
        began = time.monotonic()
        await done(s)  # /quit, then what cli.py does after the App: close the servers
        # not the 3 s it gave every server, nor the SDK's grace for one that ignores its input
        assert time.monotonic() - began < PROCESS_TERMINATION_TIMEOUT
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pass  # stopped, and reaped: nothing is left behind
        else:
            raise AssertionError("the server that never started still runs")

    asyncio.run(go())


# -- item 16: mcp.log and the line of a server that exits ---------------------------------------

def test_each_line_of_mcp_log_says_which_server_and_when(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    write_config(isolated, f"[mcp.servers.broken]\ncommand = {command('exits.py')}\n"
                        f"[mcp.servers.talks]\ncommand = {command('talks.py')}\n"
                        'approve = ["talks.*"]\n')

    async def go() -> None:
        s = await starting(clock=NOON)
        await settled(s)
        server.queue(Reply("", tool_calls=[("c", "talks__say", '{"text": "one\\ntwo"}')],
                           finish="tool_calls"), Reply("Said."))
        await s.line("say it")
        await done(s)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(NOON))
        lines = s.config.mcp_log_path.read_text().splitlines()
        assert all(re.match(rf"{when} (broken|talks): ", line) for line in lines), lines
        for line in (f"{when} broken: exits: missing its configuration",
                     f"{when} talks: talks is listening", f"{when} talks: talks said one",
                     f"{when} talks: two"):
            assert line in lines
        assert f"{when} broken: [chatrepl] could not start (Connection closed)" in lines

    asyncio.run(go())


def test_a_server_that_exits_is_said_with_its_last_line_cleaned_and_its_secrets_hidden(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    write_config(isolated, f"[mcp.servers.broken]\ncommand = {command('exits.py')}\n"
                        f"[mcp.servers.talks]\ncommand = {command('talks.py')}\n"
                        'env = { TALKS_TOKEN = "tk-0123456789" }\napprove = ["talks.*"]\n')

    async def go() -> None:
        s = await starting()
        await settled(s)
        line = await warning(s, "broken")
        assert "could not start (Connection closed); its last line: exits: missing its " \
               "configuration (all of them in " in line and "mcp.log" in line
        server.queue(Reply("", tool_calls=[("f", "talks__fall", "")], finish="tool_calls"),
                     Reply("It fell."))
        await s.line("fall")
        await s.until(lambda: "MCP server talks exited" in s.text)
        line = await warning(s, "talks")
        assert "; its last line: talks: fatal: ␛[31mthe disk is full␛[0m (token ***)" in line
        assert "\x1b" not in s.text and "tk-0123456789" not in s.text
        assert "/tools restart talks starts it again" in line
        log = s.config.mcp_log_path.read_text()  # a log holds no credential, runs no escape
        assert "talks: fatal: ␛[31mthe disk is full␛[0m (token ***)" in log
        assert "tk-0123456789" not in log and "\x1b" not in log
        await done(s)

    asyncio.run(go())


def test_a_url_servers_failure_does_not_point_at_mcp_log(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write_config(isolated, f'[mcp.servers.web]\nurl = "http://127.0.0.1:{port}/mcp"\n')

    async def go() -> None:
        s = await starting()
        await settled(s)
        line = await warning(s, "web")
        assert "MCP server web could not start (" in line and "mcp.log" not in line
        assert "its last line" not in line and "stderr" not in line
        await done(s)
        log = s.config.mcp_log_path
        assert not log.exists() or "web" not in log.read_text()

    asyncio.run(go())


# -- item 20: /tools restart ---------------------------------------------------------------------

def test_tools_restart_brings_back_a_server_that_died_and_retries_one_that_failed(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated, f"[mcp.servers.broken]\ncommand = {command('exits.py')}",
         approve='approve = ["calc.*"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[("d", "calc__die", "")], finish="tool_calls"),
                     Reply("It died."))
        await s.line("die")
        await s.until(lambda: "MCP server calc exited" in s.text)
        out = await s.line("/tools restart calc")
        assert "restarting MCP server calc…" in out and "calc: 5 tools" in out
        server.queue(Reply("", tool_calls=[ADD], finish="tool_calls"), Reply("5."))
        await s.line("add")
        assert "calc__add" in sent_tools(server, -2)
        assert server.sent_messages()[-1] == {"role": "tool", "content": "5",
                                              "tool_call_id": "call_1"}
        said = s.text.count("MCP server broken could not start")
        await s.line("/tools restart broken")
        await s.until(lambda: s.text.count("MCP server broken could not start") == said + 1)
        assert "no MCP server named 'nope'" in await s.line("/tools restart nope")
        await done(s)

    asyncio.run(go())


def test_a_server_killed_while_idle_is_said_at_once_and_its_tools_are_no_longer_sent(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    """Found with the real mcp-server-time: a server killed between calls stayed "2 tools" in
    /tools, and its tools were sent, until the model called one."""
    calc(isolated)

    async def go() -> None:
        s = await session()
        log = s.ctx.tools.servers["calc"].log
        assert log is not None
        log.stop_writers()  # SIGTERM to the server, from outside
        await s.until(lambda: "MCP server calc exited" in s.text)
        assert "/tools restart calc starts it again" in s.text
        await s.line("hi")
        assert "tools" not in server.requests[-1]
        assert "failed:" in await s.line("/tools")
        out = await s.line("/tools restart calc")
        assert "calc: 5 tools" in out
        await s.line("hi again")
        assert "calc__add" in sent_tools(server)
        await done(s)

    asyncio.run(go())


def test_ctrl_c_during_a_restart_ends_the_wait_and_says_the_server_goes_on_starting(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    """Found by the audit: /tools restart of a server that hangs held the prompt 15 s, and
    Ctrl-C returned saying nothing."""
    write_config(isolated, f"[mcp.servers.stuck]\ncommand = {command('hangs.py')}\n")

    async def go() -> None:
        s = await starting()
        await s.line("/tools restart stuck", wait=False)
        await s.until(lambda: "restarting MCP server stuck…" in s.text)
        await asyncio.sleep(0.3)  # the old one stopped, the new one launched
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        assert "stuck goes on starting in the background (/tools shows when it is up)" in s.text
        box = s.ctx.tools
        assert box is not None
        await s.until(lambda: box.servers["stuck"].task is not None)  # launched all the same
        assert "stuck" in await s.line("/tools") and box.servers["stuck"].state == STARTING
        await done(s)

    asyncio.run(go())


def test_tools_restart_and_ask_are_offered_by_tab_and_listed_by_help(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        completer = CommandCompleter(s.ctx)

        async def offered(text: str) -> list[str]:
            found = completer.get_completions_async(Document(text), CompleteEvent())
            return [c.text async for c in found]

        assert await offered("/tools re") == ["restart calc"]
        assert await offered("/tools as") == []  # nothing always allowed yet
        s.ctx.save_settings(replace(s.ctx.thread.settings, tools_allowed=("calc.add",)))
        assert await offered("/tools as") == ["ask calc.add"]
        assert "/tools [on|off|ask|restart NAME]" in await s.line("/help")
        await done(s)

    asyncio.run(go())


# -- item 21: an "always" taken back ------------------------------------------------------------

def test_tools_ask_takes_back_always_and_the_tool_stays_on(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[ADD], finish="tool_calls"), Reply("5"))
        await s.line("add")
        await s.line("a")
        out = await s.line("/tools")
        assert "(always allowed: /tools ask calc.add asks again)" in out
        assert "/tools ask NAME" in out
        out = await s.line("/tools ask calc.add")
        assert "calc.add: asked again before each call in this thread" in out
        assert s.ctx.thread.settings.tools_allowed == ()
        server.queue(Reply("", tool_calls=[("c2", "calc__add", '{"a": 1, "b": 1}')],
                           finish="tool_calls"), Reply("2"))
        prompts = s.prompts
        await s.line("again")  # the question is asked again (a prompt of its own)
        assert s.prompts == prompts + 1 and len(server.requests) == 3
        assert "calc__add" in sent_tools(server)  # still on
        out = await s.line("y")
        assert "tool: 2" in out
        assert "is not always allowed in this thread" in await s.line("/tools ask calc.add")
        await done(s)

    asyncio.run(go())


def test_tools_ask_names_the_config_patterns_it_cannot_take_back(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated, approve='approve = ["calc.add"]')

    async def go() -> None:
        s = await session()
        s.ctx.save_settings(replace(s.ctx.thread.settings,
                                    tools_allowed=("calc.add", "calc.fail")))
        out = " ".join((await s.line("/tools ask calc")).split())  # each tool of a server
        assert "calc.add, calc.fail: asked again before each call in this thread" in out
        assert "calc's approve = ['calc.add'] in" in out and "still runs" in out
        assert "(allowed by approve in config.toml)" in await s.line("/tools")
        await done(s)

    asyncio.run(go())

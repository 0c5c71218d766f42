"""MCP tools (issue 13): real MCP servers (tests/mcp_servers, written with the SDK's MCPServer)
over stdio and streamable HTTP, the App through pipe input, and the fake chat server emitting tool
calls. Each test asserts the exact requests (tools, tool messages) and what is stored."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session, write_config
from pty_session import MODULE, Terminal, stored, terminals

from repl import config as config_mod
from repl.calls import DECLINED, STOPPED, UNFINISHED
from repl.client import ChatClient
from repl.errors import ConfigError
from repl.services import start_tools
from repl.thread import INTERRUPTED
from repl.tools.toolbox import STARTING, Toolbox

SERVERS = Path(__file__).parent / "mcp_servers"
ADD = ("call_1", "calc__add", '{"a": 2, "b": 3}')


def calc(isolated: dict[str, str], extra: str = "", *, approve: str = "") -> Path:
    """The calc server in config.toml; returns the file where it marks a cancelled call."""
    mark = Path(isolated["HOME"]) / "cancelled"
    command = json.dumps([sys.executable, str(SERVERS / "calc.py"), str(mark)])
    write_config(isolated, f"{extra}\n[mcp.servers.calc]\ncommand = {command}\n{approve}\n")
    return mark


async def session(thread: str = "t") -> Session:
    """The App with its MCP servers started as the REPL starts them, once they are up."""
    s = Session()
    s.given(choose=s.ctx.ask.choose,  # type: ignore[attr-defined]
            tools=Toolbox(s.config.mcp, timeout=s.config.tool_timeout,
                          log_path=s.config.mcp_log_path))
    start_tools(s.ctx)
    await s.start(thread)
    box = s.ctx.tools
    await s.until(lambda: all(v.state != STARTING for v in box.servers.values()), timeout=30)
    return s


async def done(s: Session) -> None:
    await s.quit()
    assert s.ctx.tools is not None
    await s.ctx.tools.aclose()


def sent_tools(server: FakeOpenAI, index: int = -1) -> list[str]:
    return [t["function"]["name"] for t in server.requests[index].get("tools", [])]


def roles(s: Session) -> list[str]:
    return [m.role for m in s.store.messages("t")]


def test_a_call_approved_runs_and_its_result_goes_back(api_env: dict[str, str],
                                                       isolated: dict[str, str],
                                                       server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[ADD], finish="tool_calls"), Reply("It is 5."))
        out = await s.line("add 2 and 3")  # waits at the question
        assert '⚙ calc.add {"a": 2, "b": 3}' in out
        out = await s.line("y")
        assert "tool: 5" in out and "It is 5." in out
        first = server.requests[0]
        assert sent_tools(server, 0) == ["calc__add", "calc__fail", "calc__hang", "calc__noisy",
                                     "calc__die"]
        assert first["tools"][0] == {"type": "function", "function": {
            "name": "calc__add", "description": "Add two numbers.",
            "parameters": first["tools"][0]["function"]["parameters"]}}
        assert first["tools"][0]["function"]["parameters"]["required"] == ["a", "b"]
        second = server.sent_messages(1)
        assert second[1] == {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "calc__add", "arguments": '{"a": 2, "b": 3}'}}]}
        assert second[2] == {"role": "tool", "content": "5", "tool_call_id": "call_1"}
        assert roles(s) == ["user", "assistant", "tool", "assistant"]
        assert len(server.requests) == 2
        await done(s)

    asyncio.run(go())


def test_a_declined_call_is_answered_as_declined(api_env: dict[str, str],
                                                 isolated: dict[str, str],
                                                 server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[ADD, ("call_2", "calc__add", '{"a": 1, "b": 1}')],
                           finish="tool_calls"), Reply("OK, I won't."))
        await s.line("add")
        await s.line("maybe")  # asked again: only y, n, a
        await s.line("n")
        await s.line("y")
        tool_messages = [m for m in server.sent_messages(1) if m["role"] == "tool"]
        assert tool_messages == [{"role": "tool", "content": DECLINED, "tool_call_id": "call_1"},
                                 {"role": "tool", "content": "2", "tool_call_id": "call_2"}]
        await done(s)

    asyncio.run(go())


def test_always_allows_the_tool_in_this_thread_only(api_env: dict[str, str],
                                                    isolated: dict[str, str],
                                                    server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[ADD], finish="tool_calls"), Reply("5"),
                     Reply("", tool_calls=[("call_9", "calc__add", '{"a": 4, "b": 4}')],
                           finish="tool_calls"), Reply("8"))
        await s.line("add")
        await s.line("a")
        prompts = s.prompts
        out = await s.line("again")  # no question this time
        assert s.prompts == prompts + 1 and "tool: 8" in out
        assert s.ctx.thread.settings.tools_allowed == ("calc.add",)
        out = await s.line("/tools")
        assert "on  calc.add" in out and "(always allowed: /tools ask calc.add" in out
        await s.line("/new other")
        server.queue(Reply("", tool_calls=[ADD], finish="tool_calls"), Reply("5"))
        prompts = s.prompts
        await s.line("add here")  # another thread asks again
        assert s.prompts == prompts + 1 and len(server.requests) == 5
        await s.line("n")
        assert len(server.requests) == 6
        await done(s)

    asyncio.run(go())


def test_approve_patterns_run_without_asking_and_failures_go_to_the_model(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated, approve='approve = ["calc.*"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[("c1", "calc__fail", '{"reason": "no"}'),
                                           ("c2", "calc__add", "not json"),
                                           ("c3", "other__tool", "{}")], finish="tool_calls"),
                     Reply("Sorry."))
        prompts = s.prompts
        await s.line("try")
        assert s.prompts == prompts + 1  # nothing asked
        results = {m["tool_call_id"]: m["content"] for m in server.sent_messages(1)
                   if m["role"] == "tool"}
        assert results["c1"].startswith("error: ") and "fail" in results["c1"]
        assert results["c2"].startswith("not run: the arguments are not valid JSON")
        assert results["c3"].startswith("not run: chatrepl has no tool other__tool")
        await done(s)

    asyncio.run(go())


def test_a_tool_past_the_timeout_is_cancelled_and_reported(api_env: dict[str, str],
                                                           isolated: dict[str, str],
                                                           server: FakeOpenAI) -> None:
    mark = calc(isolated, "tool_timeout = 0.5", approve='approve = ["calc.hang"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[("h", "calc__hang", "{}")], finish="tool_calls"),
                     Reply("It timed out."))
        await s.line("wait")
        tool = server.sent_messages(1)[2]
        assert tool == {"role": "tool", "tool_call_id": "h",
                        "content": "error: the tool did not answer within 0.5 s and was "
                                   "cancelled"}
        await s.until(lambda: mark.exists())  # the server was told (notifications/cancelled)
        await done(s)

    asyncio.run(go())


def test_ctrl_c_mid_call_cancels_it_stores_it_as_interrupted_and_the_thread_goes_on(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    mark = calc(isolated, approve='approve = ["calc.hang"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[("h", "calc__hang", "{}"), ADD],
                           finish="tool_calls"))
        await s.line("wait", wait=False)
        await s.until(lambda: "⚙ calc.hang" in s.text)
        await asyncio.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        await s.until(lambda: mark.exists())
        stored = s.store.messages("t")
        assert [(m.role, m.status) for m in stored] == [
            ("user", None), ("assistant", None), ("tool", INTERRUPTED), ("tool", None)]
        assert stored[3].content == STOPPED
        assert len(server.requests) == 1  # not asked again
        await s.line("go on")
        sent = server.sent_messages()
        assert [(m["role"], m.get("tool_call_id")) for m in sent] == [
            ("user", None), ("assistant", None), ("tool", "h"), ("tool", "call_1"),
            ("user", None)]
        await done(s)

    asyncio.run(go())


def test_a_result_full_of_escape_sequences_is_shown_clean_and_stored_whole(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated, approve='approve = ["calc.noisy"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[("n", "calc__noisy", "")], finish="tool_calls"))
        out = await s.line("noise")
        assert "\x1b" not in out and "\x07" not in out
        assert "red" in out and "(2 more lines)" in out and "line 5" not in out
        stored = s.store.messages("t")[2]
        assert stored.content.startswith("\x1b[2J\x1b]0;pwned\x07red")
        assert "line 5" in stored.content
        await done(s)

    asyncio.run(go())


def test_a_server_that_exits_at_start_is_one_line_and_the_rest_goes_on(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    command = json.dumps([sys.executable, str(SERVERS / "exits.py")])
    calc(isolated, f"[mcp.servers.broken]\ncommand = {command}")

    async def go() -> None:
        s = await session()
        await s.until(lambda: "MCP server broken could not start" in s.text)
        line = next(x for x in s.text.splitlines() if "broken" in x)
        assert "mcp.log" in line
        assert "missing its configuration" in s.config.mcp_log_path.read_text()
        out = await s.line("/tools")
        assert "failed:" in out and "on  calc.add" in out
        await s.line("hi")
        assert "calc__add" in sent_tools(server) and not any(
            n.startswith("broken") for n in sent_tools(server))
        await done(s)

    asyncio.run(go())


def test_tools_switched_off_per_thread_are_not_sent(api_env: dict[str, str],
                                                    isolated: dict[str, str],
                                                    server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        await s.line("/tools off calc")
        await s.line("hi")
        assert "tools" not in server.requests[-1]
        await s.line("/tools on calc.add")
        await s.line("hi")
        assert sent_tools(server) == ["calc__add"]
        out = await s.line("/tools off nope")
        assert "no MCP server named 'nope'" in out
        out = await s.line("/tools on calc.nope")
        assert "calc has no tool 'nope'" in out
        await s.line("/tools on calc")
        await s.line("hi")
        assert len(sent_tools(server)) == 5
        assert s.ctx.thread.settings.tools == {"calc": True}
        await done(s)

    asyncio.run(go())


def test_the_loop_stops_at_max_tool_rounds(api_env: dict[str, str], isolated: dict[str, str],
                                           server: FakeOpenAI) -> None:
    calc(isolated, "max_tool_rounds = 2", approve='approve = ["calc.*"]')

    async def go() -> None:
        s = await session()
        server.queue(*(Reply("", tool_calls=[(f"c{i}", "calc__add", '{"a": 1, "b": 1}')],
                             finish="tool_calls") for i in range(3)))
        out = await s.line("loop")
        assert "stopped after 2 rounds of tool calls" in out
        assert len(server.requests) == 3
        last = s.store.messages("t")[-1]
        assert last.role == "tool" and "max_tool_rounds = 2" in last.content
        await s.line("ok")  # the thread is valid: every call has its result
        assert server.sent_messages()[-2]["role"] == "tool"
        await done(s)

    asyncio.run(go())


def test_calls_left_without_a_result_get_one_before_the_next_question(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    """What a kill -9 mid-loop leaves: the answer with its calls, one result of two."""
    from repl.thread import Message

    calc(isolated)

    async def go() -> None:
        s = await session()
        call = {"id": "k1", "type": "function",
                "function": {"name": "calc__add", "arguments": "{}"}}
        s.store.append("t", Message("user", "add twice"))
        s.store.append("t", Message("assistant", "", fields={
            "tool_calls": [call, {**call, "id": "k2"}]}))
        s.store.append("t", Message("tool", "2", fields={"tool_call_id": "k1"}))
        await s.line("and now?")
        sent = server.sent_messages()
        assert sent[3] == {"role": "tool", "content": UNFINISHED, "tool_call_id": "k2"}
        assert sent[4] == {"role": "user", "content": "and now?"}
        assert roles(s) == ["user", "assistant", "tool", "tool", "user", "assistant"]
        await done(s)

    asyncio.run(go())


def test_tool_results_are_exported_and_searched(api_env: dict[str, str],
                                                isolated: dict[str, str],
                                                server: FakeOpenAI, tmp_path: Path) -> None:
    from repl.transfer import export_text

    calc(isolated, approve='approve = ["calc.add"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[("c", "calc__add", '{"a": 20, "b": 22}')],
                           finish="tool_calls"), Reply("Done."))
        await s.line("add")
        out = await s.line("/search 42")
        assert "tool" in out and "42" in out
        data = json.loads(export_text(s.store, "t", "json")[0])
        messages = data if isinstance(data, list) else data["messages"]
        assert {"role": "tool", "content": "42", "tool_call_id": "c"} in messages
        markdown = export_text(s.store, "t", "md")[0]
        assert '"tool_call_id": "c"' in markdown and "calc__add" in markdown
        await done(s)

    asyncio.run(go())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_over_streamable_http(api_env: dict[str, str], isolated: dict[str, str],
                                       server: FakeOpenAI) -> None:
    port = _free_port()
    web = subprocess.Popen([sys.executable, str(SERVERS / "web.py"), str(port)],
                           stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        write_config(isolated, f'[mcp.servers.web]\nurl = "http://127.0.0.1:{port}/mcp"\n'
                            'headers = { "X-Token" = "t0k" }\n')

        async def go() -> None:
            s = await session()
            server.queue(Reply("", tool_calls=[("w", "web__shout", '{"text": "hi"}')],
                               finish="tool_calls"), Reply("Loud."))
            await s.line("shout")
            await s.line("y")
            assert server.sent_messages(1)[2]["content"] == "HI (token t0k)"
            await done(s)

        asyncio.run(go())
    finally:
        web.terminate()
        web.wait(10)


@pytest.mark.parametrize("table, says", [
    ("[mcp.servers.x]\nurl = 'ftp://a'", "url must be an http"),
    ("[mcp.servers.x]\ncommand = 'ls'", "command must be a list"),
    ("[mcp.servers.x]\ncommand = ['ls']\nurl = 'http://a'", "either command"),
    ("[mcp.servers.x]\ncommand = ['ls']\nbogus = 1", "unknown key 'bogus'"),
    ("[mcp.servers.'a.b']\ncommand = ['ls']", "a server name is"),
    ("[mcp]\nclients = 1", "unknown setting mcp.clients"),
    ("tool_timeout = 0", "tool_timeout must be positive"),
])
def test_bad_server_tables_are_one_clear_line(isolated: dict[str, str], table: str,
                                              says: str) -> None:
    write_config(isolated, table)
    with pytest.raises(ConfigError, match=says):
        config_mod.load(env={})


def test_server_tables_are_read(isolated: dict[str, str]) -> None:
    write_config(isolated, "max_tool_rounds = 3\n[mcp.servers.files]\ncommand = ['npx', 'srv']\n"
                        "env = { A = 'b' }\ncwd = '~/x'\napprove = ['files.read_*']\n")
    config = config_mod.load(env={})
    (files,) = config.mcp
    assert (files.command, files.env, files.approve) == (("npx", "srv"), {"A": "b"},
                                                         ("files.read_*",))
    assert files.cwd is not None and not files.cwd.startswith("~")
    assert files.approves("read_file") and not files.approves("write_file")
    assert config.max_tool_rounds == 3 and config.tool_timeout == 60.0


def test_a_server_that_dies_under_a_call_is_one_line_and_the_call_fails(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated, approve='approve = ["calc.die"]')

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[("d", "calc__die", "")], finish="tool_calls"),
                     Reply("It died."))
        await s.line("die")
        assert server.sent_messages(1)[2]["content"].startswith("error: the call failed")
        await s.until(lambda: "MCP server calc exited" in s.text)
        await s.line("hi")
        assert "tools" not in server.requests[-1]
        out = await s.line("/tools")
        assert "failed:" in out
        await done(s)

    asyncio.run(go())


def test_ctrl_c_at_the_question_stops_the_calls(api_env: dict[str, str],
                                                isolated: dict[str, str],
                                                server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        server.queue(Reply("", tool_calls=[ADD, ("call_2", "calc__add", "{}")],
                           finish="tool_calls"))
        await s.line("add")
        await s.line("\x03", wait=False)
        await s.wait_prompt()
        stored = s.store.messages("t")
        assert [(m.role, m.content) for m in stored[2:]] == [("tool", STOPPED),
                                                             ("tool", STOPPED)]
        assert len(server.requests) == 1
        await done(s)

    asyncio.run(go())


def test_without_the_mcp_package_one_line_says_what_to_install(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calc(isolated)
    monkeypatch.setitem(sys.modules, "mcp.client.client", None)  # import raises ImportError

    async def go() -> None:
        s = await session()
        await s.until(lambda: "pip install 'chatrepl[mcp]'" in s.text)
        await s.line("hi")
        assert "tools" not in server.requests[-1]
        await done(s)

    asyncio.run(go())


@pytest.fixture
def terminal(api_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    yield from terminals(api_env, tmp_path)


@pytest.mark.slow
def test_kill_9_mid_loop_keeps_every_finished_step_and_the_thread_goes_on(
        terminal: Callable[..., Terminal], api_env: dict[str, str], isolated: dict[str, str],
        server: FakeOpenAI, data_dir: Path) -> None:
    """In a real terminal: the question, y, a result; killed while the second call runs."""
    calc(isolated, approve='approve = ["calc.hang"]')
    term = terminal("-t", "t")
    server.queue(Reply("", tool_calls=[ADD, ("h", "calc__hang", "{}")], finish="tool_calls"))
    term.send("add, then wait\r")
    term.wait_text("run calc.add? [y]es, [n]o, [a]lways in this thread:")
    term.send("y\r")
    term.wait_text("⚙ calc.hang {}")
    term.child.kill(signal.SIGKILL)
    term.wait_gone()
    assert stored(data_dir, "t") == [("user", "add, then wait", None), ("assistant", "", None),
                                     ("tool", "5", None)]
    go_on = subprocess.run([*MODULE, "-t", "t", "and then?"], env=api_env, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
    assert go_on.returncode == 0, go_on.stderr
    assert [(m["role"], m.get("tool_call_id"), m["content"]) for m in server.sent_messages()] == [
        ("user", None, "add, then wait"), ("assistant", None, ""), ("tool", "call_1", "5"),
        ("tool", "h", UNFINISHED), ("user", None, "and then?")]


def test_the_mcp_package_is_not_imported_on_the_way_to_the_prompt() -> None:
    """It is heavy (pydantic, an HTTP client): the servers' task imports it, in a thread."""
    code = ("import sys, repl.cli, repl.app, repl.chat, repl.commands, repl.tools.servers, "
            "repl.tools.toolbox; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'mcp', 'pydantic', 'anyio'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_server_that_hangs_at_start_never_delays_the_prompt_and_one_message_only(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    command = json.dumps([sys.executable, str(SERVERS / "hangs.py")])
    write_config(isolated, f"[mcp.servers.stuck]\ncommand = {command}\n")

    async def go() -> None:
        s = Session()
        s.given(tools=Toolbox(s.config.mcp, timeout=1, log_path=s.config.mcp_log_path,
                              start_wait=0.3))
        start_tools(s.ctx)
        began = time.monotonic()
        await s.start("t")
        assert time.monotonic() - began < 5  # the prompt; the server still starts
        out = await s.line("hi")
        assert "waiting for the MCP servers to start" in out and "echo: hi" in out
        out = await s.line("again")
        assert "waiting" not in out and "tools" not in server.requests[-1]
        out = await s.line("/tools")
        assert "starting" in out
        await s.quit()
        await s.ctx.tools.aclose()

    asyncio.run(go())


def test_tools_without_servers_says_how_to_add_one(api_env: dict[str, str],
                                                   server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        out = await s.line("/tools")
        assert "no MCP servers: add [mcp.servers.NAME] tables to" in out
        assert "/tools [on|off|ask|restart NAME]" in await s.line("/help")
        await s.quit()

    asyncio.run(go())


def test_tools_on_the_responses_api_are_function_tools_and_results_go_back_as_items(
        api_env: dict[str, str], isolated: dict[str, str], server: FakeOpenAI) -> None:
    calc(isolated)

    async def go() -> None:
        s = await session()
        s.ctx.endpoints.install("default", ChatClient(
            api_key="sk-test", base_url=server.url, timeout=10, retries=0, local_servers=(),
            api="responses"))
        server.queue(Reply("", tool_calls=[ADD], finish="tool_calls"), Reply("It is 5."))
        out = await s.line("add 2 and 3")
        assert '⚙ calc.add {"a": 2, "b": 3}' in out
        out = await s.line("y")
        assert "tool: 5" in out and "It is 5." in out
        first, second = server.requests
        assert first["tools"][0] == {"type": "function", "name": "calc__add",
                                     "description": "Add two numbers.",
                                     "parameters": first["tools"][0]["parameters"]}
        calls = [i for i in second["input"] if i.get("type") == "function_call"]
        assert [(c["call_id"], c["name"], c["arguments"]) for c in calls] == [ADD]
        assert {"type": "function_call_output", "call_id": "call_1", "output": "5"} in \
            second["input"]
        assert roles(s) == ["user", "assistant", "tool", "assistant"]
        assert '⚙ calc.add {"a": 2, "b": 3}' in await s.line("/history")
        await s.ctx.client.aclose()
        await done(s)

    asyncio.run(go())

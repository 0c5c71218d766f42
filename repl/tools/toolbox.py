"""The MCP servers of a session: started in the background (never before the prompt), their tools
listed, called with a deadline and cancelled (MCP's notifications/cancelled) on Ctrl-C.

Each server lives in a task of its own, which holds the SDK's client open until the session ends
or the server is restarted; a server that cannot start or that exits (under a call or idle) is
said in one line (with the last line it printed) and the rest go on without it. A stdio
server's own messages (stderr) go to ``log_path``, each line with the time and the server's name
(stderr.py), never to the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from repl import files
from repl.redaction import header_secrets, scrub
from repl.tools import names
from repl.tools.servers import ServerConfig
from repl.tools.stderr import ServerLog

INSTALL = "pip install 'chatrepl[mcp]'"
STARTING, READY, FAILED = "starting", "ready", "failed"


@dataclass(frozen=True, slots=True)
class Tool:
    server: str
    name: str  # as the server lists it, and is called by
    description: str
    schema: dict[str, Any]
    api_name: str  # what the model calls it by: distinct and stable (names.py)

    @property
    def shown(self) -> str:
        """What the user sees and types: ``server.tool``."""
        return f"{self.server}.{self.name}"

    def function(self) -> dict[str, Any]:
        """The tool as a chat completions function tool."""
        schema = self.schema or {"type": "object", "properties": {}}
        return {"type": "function", "function": {
            "name": self.api_name, "description": self.description, "parameters": schema}}


@dataclass(frozen=True, slots=True)
class Result:
    text: str
    error: bool = False


@dataclass
class Server:
    config: ServerConfig
    state: str = STARTING
    reason: str = ""  # why it failed
    tools: tuple[Tool, ...] = ()
    client: Any = field(default=None, repr=False)
    stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # close it
    lost: str = ""  # why a call found it gone: said once it is closed
    log: ServerLog | None = field(default=None, repr=False)  # a stdio server's stderr
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Toolbox:
    """``say``: how a line about a server reaches the user (set by whoever shows it)."""

    def __init__(self, configs: tuple[ServerConfig, ...], *, timeout: float, log_path: Path,
                 say: Callable[[str], None] = lambda line: None, start_wait: float = 15,
                 clock: Callable[[], float] = time.time) -> None:
        self.servers = {c.name: Server(c) for c in configs}
        self.timeout = timeout
        self.log_path = log_path
        self.say = say
        self.clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()
        self._log: TextIO | None = None
        self.start_wait = start_wait
        self._waited = False
        self._left: set[str] = set()  # the servers a request was said to go on without

    def start(self) -> None:
        """Start every server in the background (in the running loop); returns at once."""
        if self.servers and not self._tasks:
            self._tasks.append(asyncio.create_task(self._start_all()))

    @property
    def starting(self) -> bool:
        """Servers are still starting, and no one waited for them yet."""
        return not self._waited and bool(self.waiting())

    def waiting(self) -> list[str]:
        """The names of the servers still starting."""
        return [name for name, s in self.servers.items() if s.state == STARTING]

    async def started(self) -> None:
        """Wait, once a session and up to ``start_wait`` seconds, for the servers starting (one
        that hangs at start delays one message, never the prompt, never every message); those
        still starting (``waiting``) the session goes on without."""
        self._waited = True
        await self._settle(self.waiting())

    def left_behind(self, names: list[str]) -> list[str]:
        """Those of ``names`` not yet said to be gone on without (each is said once)."""
        fresh = [n for n in names if n not in self._left]
        self._left.update(fresh)
        return fresh

    async def _settle(self, names: list[str]) -> None:
        """Up to ``start_wait`` seconds, until none of ``names`` is starting."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.start_wait):
                while any(self.servers[n].state == STARTING for n in names):
                    await asyncio.sleep(0.05)

    async def restart(self, name: str) -> Server:
        """Stop server ``name`` (whatever its state) and start it again; returns it once it is
        up, has failed (said in one line) or is still starting after ``start_wait`` seconds."""
        old = self.servers[name]
        fresh = self.servers[name] = Server(old.config)  # the old one's end is not said
        self._left.discard(name)
        # Ctrl-C stops the wait, never the restart: the server goes on starting
        if await asyncio.shield(self._relaunch(old, fresh)):
            await self._settle([name])
        return fresh

    async def _relaunch(self, old: Server, fresh: Server) -> bool:
        await self._end([old])
        if not await self._imported():
            return False
        self._launch(fresh)
        return True

    def tools(self) -> list[Tool]:
        """The tools of the servers that are up, in the configuration's order."""
        return [t for s in self.servers.values() if s.state == READY for t in s.tools]

    def find(self, api_name: str) -> Tool | None:
        return next((t for t in self.tools() if t.api_name == api_name), None)

    def approves(self, tool: Tool) -> bool:
        return self.servers[tool.server].config.approves(tool.name)

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> Result:
        """Run ``tool``; a failure is a Result the model is told, never an exception. Past the
        timeout the call is cancelled; a cancellation (Ctrl-C) cancels it on the server too."""
        server = self.servers[tool.server]
        if server.state != READY:
            return Result(f"the MCP server {tool.server} is not running", error=True)
        try:
            async with asyncio.timeout(self.timeout):
                result = await server.client.call_tool(tool.name, arguments)
        except TimeoutError:
            return Result(f"the tool did not answer within {self.timeout:g} s and was cancelled",
                          error=True)
        except Exception as e:  # the SDK's errors, a closed connection: told to the model
            await self._check(server)
            return Result(f"the call failed: {_reason(e)}", error=True)
        return Result(_text(result.content), error=bool(result.is_error))

    async def _check(self, server: Server) -> None:
        """After a failed call: a server that no longer lists its tools is gone (its task says
        so once it has closed it, with what the server printed last)."""
        try:
            async with asyncio.timeout(2):
                await server.client.list_tools(cache_mode="refresh")
        except Exception as e:
            if server.state == READY and not server.lost:
                server.lost = _reason(e)
                server.stop.set()

    async def aclose(self) -> None:
        """Close every server: those up are told to exit (3 s at most); those still starting
        are stopped at once, as nothing of theirs can be lost."""
        self._closing.set()
        for task in self._tasks:  # the import of the SDK: no server starts any more
            task.cancel()
        await self._end(list(self.servers.values()))
        if self._log is not None:
            self._log.close()

    async def _end(self, servers: list[Server]) -> None:
        """Stop ``servers``: the ones up close (3 s at most), the ones starting are ended."""
        for server in servers:
            server.stop.set()
            if server.state == STARTING:
                if server.log is not None:
                    server.log.stop_writers()
                if server.task is not None:
                    server.task.cancel()
        tasks = [s.task for s in servers if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=3)  # each closes its server
        for task in tasks:
            task.cancel()

    async def _imported(self) -> bool:
        """Import the SDK (in a thread: it takes a while); without it, each server has failed."""
        try:
            await asyncio.to_thread(importlib.import_module, "mcp.client.client")
        except ImportError:
            for server in self.servers.values():
                server.state, server.reason = FAILED, f"the mcp package is missing: {INSTALL}"
            self.say("MCP servers are configured but the mcp package (version 2 or later) is "
                     f"not installed: {INSTALL}")
            return False
        return True

    async def _start_all(self) -> None:
        if await self._imported():
            for server in self.servers.values():
                if server.task is None:  # not restarted meanwhile
                    self._launch(server)

    def _launch(self, server: Server) -> None:
        server.task = asyncio.create_task(self._serve(server))

    async def _serve(self, server: Server) -> None:
        """The server's life: started, listed, held open until stopped, then closed; how it
        ended is said here, once (not when chatrepl closes it)."""
        from mcp import Client
        from mcp.types import Implementation

        from repl import __version__

        me = Implementation(name="chatrepl", version=__version__)
        config = server.config
        failure = ""
        try:
            if config.url is None:
                server.log = ServerLog(config.name, self._errlog(), clock=self.clock,
                                       secrets=header_secrets(config.env))
            async with Client(self._transport(config, server.log), client_info=me) as client:
                server.tools = self._named(config.name, await _list(client))
                server.client, server.state = client, READY
                await self._held(server)
        except Exception as e:
            failure = _reason(e)
        finally:  # what it printed, read to its end before it is told
            if server.log is not None:
                await server.log.close(1 if self._closing.is_set() else 5)
        if not self._closing.is_set() and self.servers.get(config.name) is server:
            self._gone(server, server.lost or failure or "it closed the connection")

    async def _held(self, server: Server) -> None:
        """Until the server is stopped. A stdio server's stderr ending says it has exited (or
        closed its stderr): asked for its tools, one that does not answer is gone, said at
        once rather than at the next call."""
        log = server.log
        if log is not None:
            log.release()
            stop = asyncio.ensure_future(server.stop.wait())
            try:
                await asyncio.wait([stop, log.ended], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
            if not server.stop.is_set():
                await self._check(server)
        await server.stop.wait()

    def _gone(self, server: Server, reason: str) -> None:
        what = "exited" if server.state == READY else "could not start"
        server.state, server.reason, server.client = FAILED, reason, None
        line = f"MCP server {server.config.name} {what} ({reason})"
        log = server.log
        if log is not None:  # a url server has no stderr: nothing of it is in mcp.log
            log.note(f"{what} ({reason})")
            last = scrub(log.shown(), header_secrets(server.config.env))
            line += (f"; its last line: {last} (all of them in {self.log_path})" if last
                     else "; it printed nothing on stderr")
        self.say(f"{line}; /tools restart {server.config.name} starts it again")

    def _named(self, server: str, listed: list[Any]) -> tuple[Tool, ...]:
        """The tools a server listed, each with its API name (a name listed twice: once)."""
        taken = {t.api_name for s in self.servers.values() if s.config.name != server
                 for t in s.tools}
        tools: dict[str, Tool] = {}
        for t in listed:
            if t.name not in tools:
                name = names.unique(names.api_name(server, t.name, self.servers),
                                    lambda n: n in taken)
                taken.add(name)
                tools[t.name] = Tool(server, t.name, t.description or "",
                                     dict(t.input_schema or {}), name)
        return tuple(tools.values())

    def _transport(self, config: ServerConfig, log: ServerLog | None) -> Any:
        if config.url is not None:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client(headers=config.headers or None)
            return streamable_http_client(config.url, http_client=http)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        assert log is not None
        params = StdioServerParameters(command=config.command[0], args=list(config.command[1:]),
                                       env=config.env or None, cwd=config.cwd)
        return stdio_client(params, errlog=log.errlog)

    def _errlog(self) -> TextIO:
        """mcp.log, opened once for every server (their lines are written whole, in turn)."""
        if self._log is None:
            fd = files.open_private(self.log_path, os.O_WRONLY | os.O_APPEND)
            self._log = os.fdopen(fd, "a", encoding="utf-8")
        return self._log


async def _list(client: Any) -> list[Any]:
    """The SDK's tools of a server, every page of them."""
    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(100):  # pages; a server that pages forever is cut off
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _text(content: list[Any]) -> str:
    """A result's content as text: text parts as they are, others named by their kind."""
    pieces = []
    for part in content:
        text = getattr(part, "text", None)
        if isinstance(text, str):
            pieces.append(text)
        else:
            kind = getattr(part, "mime_type", None) or getattr(part, "type", "content")
            pieces.append(f"[{kind} not shown]")
    return "\n".join(pieces)


def _reason(e: BaseException) -> str:
    """The innermost first cause, in one line (the SDK raises exception groups)."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())

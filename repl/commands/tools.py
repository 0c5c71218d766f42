"""/tools: the MCP servers and their tools, switched on or off for this thread (remembered in its
settings), an "always" taken back, a server restarted; and the start of the servers when the REPL
starts (repl/tools does the work)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from repl.calls import is_on, switches
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.sanitize import clean_line
from repl.tools.toolbox import FAILED, READY, Tool, Toolbox


async def tool_names(ctx: Context) -> list[str]:
    """What /tools takes: on/off a server or tool, ask a tool always allowed here, restart a
    server."""
    if ctx.tools is None:
        return []
    servers = list(ctx.tools.servers)
    names = [*servers, *(t.shown for t in ctx.tools.tools())]
    return [*(f"{switch} {name}" for switch in ("on", "off") for name in names),
            *(f"ask {name}" for name in ctx.thread.settings.tools_allowed),
            *(f"restart {name}" for name in servers)]


@command("tools", usage="[on|off|ask|restart NAME]", complete=tool_names)
async def tools(ctx: Context, arg: str) -> None:
    """List the MCP servers and their tools; switch one on or off here, ask again, restart one."""
    box = ctx.tools
    if box is None or not box.servers:
        ctx.ui.info(f"no MCP servers: add [mcp.servers.NAME] tables to {ctx.config.config_file} "
                    "(docs/tools.md shows how)")
        return
    if not arg:
        _list(ctx)
        return
    verb, _, name = arg.partition(" ")
    name = name.strip()
    if verb not in ACTIONS or not name:
        raise CommandError("usage: /tools on|off|ask NAME (a server, or server.tool), "
                           "/tools restart SERVER")
    await ACTIONS[verb](ctx, box, name)


def _known(box: Toolbox, name: str) -> tuple[str, str]:
    """(server, tool) of ``name``, a server or server.tool; an error if there is no such one."""
    server, _, tool = name.partition(".")
    if server not in box.servers:
        raise CommandError(f"no MCP server named {server!r} (/tools lists them)")
    known = box.servers[server].state != READY or any(
        t.name == tool for t in box.servers[server].tools)
    if tool and not known:
        raise CommandError(f"{server} has no tool {tool!r} (/tools lists them)")
    return server, tool


async def _switch(ctx: Context, box: Toolbox, name: str, *, on: bool) -> None:
    server, tool = _known(box, name)
    switched = switches(ctx.thread.settings)
    if not tool:  # the server's switch decides for all its tools again
        switched = {k: v for k, v in switched.items() if not k.startswith(f"{server}.")}
    switched[name] = on
    ctx.save_settings(replace(ctx.thread.settings, tools=switched))
    ctx.ui.info(f"{name}: {'on' if on else 'off'} in this thread")


async def _ask(ctx: Context, box: Toolbox, name: str) -> None:
    """Take back "always" (the answer a) for a tool, or for every tool of a server."""
    server, tool = _known(box, name)
    settings = ctx.thread.settings
    allowed = settings.tools_allowed
    taken = [n for n in allowed if n == name or (not tool and n.startswith(f"{server}."))]
    if taken:
        ctx.save_settings(replace(settings, tools_allowed=tuple(n for n in allowed
                                                                if n not in taken)))
        ctx.ui.info(f"{', '.join(map(clean_line, taken))}: asked again before each call in "
                    "this thread")
    patterns = box.servers[server].config.approve
    if patterns:  # the config's patterns are not this thread's to take back
        ctx.ui.info(f"{server}'s approve = {list(patterns)} in {ctx.config.config_file} still "
                    "runs what it matches without asking")
    elif not taken:
        ctx.ui.info(f"{name} is not always allowed in this thread: it is asked about already")


async def _restart(ctx: Context, box: Toolbox, name: str) -> None:
    if name not in box.servers:
        raise CommandError(f"no MCP server named {name!r} (/tools lists them)")
    ctx.ui.info(f"restarting MCP server {name}…")
    try:
        server = await box.restart(name)
    except asyncio.CancelledError:  # Ctrl-C: the wait ends, the server goes on starting
        ctx.ui.info(f"{name} goes on starting in the background (/tools shows when it is up)")
        raise
    if server.state == READY:
        ctx.ui.info(f"{name}: {len(server.tools)} tools")
    elif server.state != FAILED:
        ctx.ui.info(f"{name} is still starting (/tools shows when it is up)")
    # a failure is said as every failure is, in one line (Toolbox.say)


Action = Callable[[Context, Toolbox, str], Awaitable[None]]
ACTIONS: dict[str, Action] = {
    "on": functools.partial(_switch, on=True), "off": functools.partial(_switch, on=False),
    "ask": _ask, "restart": _restart}


def _list(ctx: Context) -> None:
    assert ctx.tools is not None
    allowed = ctx.thread.settings.tools_allowed
    switched = switches(ctx.thread.settings)
    rows: list[tuple[str, str]] = []
    for name, server in ctx.tools.servers.items():
        where = server.config.url or " ".join(server.config.command)
        state = f"failed: {server.reason}" if server.state == FAILED else server.state
        if server.state == READY:
            state = f"{len(server.tools)} tools"
        rows.append((clean_line(name), f"{state} · {where}"))
        for tool in server.tools if server.state == READY else ():
            mark = "on " if is_on(tool, switched) else "off"
            summary = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            rows.append((f"  {mark} {clean_line(tool.shown)}",
                         f"{summary}{_allowed(ctx.tools, tool, allowed)}"))
    ctx.ui.rows(rows)
    ctx.ui.info("/tools on|off NAME switches a server or server.tool for this thread; "
                "/tools ask NAME asks again before a tool always allowed here; "
                "/tools restart SERVER starts a server again")


def _allowed(box: Toolbox, tool: Tool, allowed: Sequence[str]) -> str:
    if tool.shown in allowed:
        return f" (always allowed: /tools ask {clean_line(tool.shown)} asks again)"
    return " (allowed by approve in config.toml)" if box.approves(tool) else ""

"""/tools: the MCP servers and their tools, switched on or off for this thread (remembered in its
settings); and the start of the servers when the REPL starts (repl/tools does the work)."""

from __future__ import annotations

from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.sanitize import clean_line
from repl.tools.loop import ALLOWED, SWITCHES, is_on, switches
from repl.tools.toolbox import FAILED, READY


def start(ctx: Context) -> None:
    """Start the configured servers in the background: the prompt never waits for them; a
    server that fails or exits is one line, shown above the prompt."""
    if ctx.tools is None:
        return
    ui = ctx.ui

    def say(line: str) -> None:
        from prompt_toolkit.application import run_in_terminal

        run_in_terminal(lambda: ui.warn(line))  # the prompt is drawn again under it

    ctx.tools.say = say
    ctx.tools.start()


async def tool_names(ctx: Context) -> list[str]:
    if ctx.tools is None:
        return []
    names = [*ctx.tools.servers, *(t.shown for t in ctx.tools.tools())]
    return [f"{switch} {name}" for switch in ("on", "off") for name in names]


@command("tools", usage="[on|off NAME]", complete=tool_names)
async def tools(ctx: Context, arg: str) -> None:
    """List the MCP servers and their tools, or switch a server or server.tool on or off here."""
    box = ctx.tools
    if box is None or not box.servers:
        ctx.ui.info(f"no MCP servers: add [mcp.servers.NAME] tables to {ctx.config.config_file} "
                    "(the README's Tools section shows how)")
        return
    if not arg:
        _list(ctx)
        return
    switch, _, name = arg.partition(" ")
    name = name.strip()
    if switch not in ("on", "off") or not name:
        raise CommandError("usage: /tools on|off NAME (a server, or server.tool)")
    server, _, tool = name.partition(".")
    if server not in box.servers:
        raise CommandError(f"no MCP server named {server!r} (/tools lists them)")
    known = box.servers[server].state != READY or any(
        t.name == tool for t in box.servers[server].tools)
    if tool and not known:
        raise CommandError(f"{server} has no tool {tool!r} (/tools lists them)")
    switched = switches(ctx)
    if not tool:  # the server's switch decides for all its tools again
        switched = {k: v for k, v in switched.items() if not k.startswith(f"{server}.")}
    switched[name] = switch == "on"
    ctx.save_setting(SWITCHES, switched)
    ctx.ui.info(f"{name}: {switch} in this thread")


def _list(ctx: Context) -> None:
    assert ctx.tools is not None
    allowed = ctx.setting(ALLOWED) or []
    switched = switches(ctx)
    rows: list[tuple[str, str]] = []
    for name, server in ctx.tools.servers.items():
        where = server.config.url or " ".join(server.config.command)
        state = f"failed: {server.reason}" if server.state == FAILED else server.state
        if server.state == READY:
            state = f"{len(server.tools)} tools"
        rows.append((clean_line(name), f"{state} · {where}"))
        for tool in server.tools if server.state == READY else ():
            mark = "on " if is_on(tool, switched) else "off"
            always = " (always allowed)" if tool.shown in allowed or ctx.tools.approves(tool) \
                else ""
            summary = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            rows.append((f"  {mark} {clean_line(tool.shown)}", f"{summary}{always}"))
    ctx.ui.rows(rows)
    ctx.ui.info("/tools on|off NAME switches a server or server.tool for this thread")

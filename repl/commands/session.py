"""Commands about the session and the current thread: /help, /model, /system, /export, /quit."""

from __future__ import annotations

import shlex

from repl.commands.registry import COMMANDS, command
from repl.context import Context
from repl.errors import ExportError, ExportExistsError
from repl.importers import counted
from repl.transfer import export_thread


@command("help")
async def help_(ctx: Context, arg: str) -> None:
    """Show the commands."""
    ordered = sorted(COMMANDS.values(), key=lambda c: (c.name == "quit", c.name != "help"))
    rows = [(f"/{c.name} {c.usage}".rstrip(), c.help) for c in ordered]
    ctx.ui.rows(rows)
    ctx.ui.info("Enter sends · Alt-Enter or Ctrl-J: new line · Ctrl-C stops an answer or clears "
                "the line · Ctrl-Z suspends · Ctrl-D quits · commands may be shortened (/sw work)")


async def model_names(ctx: Context) -> list[str]:
    """Every endpoint's models (asked at once, once a session), the ones in use first: the
    thread's endpoint's as they are, the others' as ENDPOINT:MODEL."""
    listed = await ctx.endpoints.listing(ctx.store)
    current = ctx.chosen(ctx.thread)[0]
    others = [f"{name}:{m}" for name, models in listed.items() if name != current
              for m in models]
    return list(dict.fromkeys([ctx.model, ctx.config.model, *listed.get(current, []), *others]))


@command("model", usage="[NAME | ENDPOINT:NAME]", complete=model_names)
async def model(ctx: Context, arg: str) -> None:
    """Show the model, or use NAME (on ENDPOINT) for this thread from now on."""
    if not arg:
        ctx.ui.say(f"model: {ctx.shown(ctx.thread)}")
        return
    endpoint, _ = ctx.endpoints.split(arg)
    if endpoint:
        ctx.endpoints.get(endpoint)
    ctx.remember_model(ctx.thread, arg)
    ctx.model_override = None  # -m was for this run until now
    ctx.ui.info(f"model for {ctx.thread.name!r}: {ctx.shown(ctx.thread)}")


@command("system", usage="[TEXT | -]")
async def system(ctx: Context, arg: str) -> None:
    """Show the system prompt, set it to TEXT, or clear it with -."""
    if not arg:
        ctx.ui.say(f"system prompt: {ctx.thread.system}" if ctx.thread.system
                   else "no system prompt (/system TEXT sets one)")
        return
    if arg == "-":
        ctx.store.update(ctx.thread.name, clear_system=True)
        ctx.ui.info("system prompt cleared")
    else:
        ctx.store.update(ctx.thread.name, system=arg)
        ctx.ui.info("system prompt set")


@command("export", usage="[PATH]")
async def export(ctx: Context, arg: str) -> None:
    """Write this thread to PATH (.html: a page to read, .json: the messages array; else .md)."""
    path = _quoted(arg) if arg[:1] in ("'", '"') else arg or f"{ctx.thread.name}.md"
    if path == "-":
        raise ExportError("/export writes a file (chatrepl --export - writes to standard output)")
    try:
        count = export_thread(ctx.store, ctx.thread.name, path)
    except ExportExistsError:
        if not await ctx.ask(f"overwrite {path}? [y/N] "):
            ctx.ui.info("not exported")
            return
        count = export_thread(ctx.store, ctx.thread.name, path, overwrite=True)
    ctx.ui.info(f"exported {counted(count, 'message')} to {path}")


def _quoted(arg: str) -> str:
    """The one path in ``arg``, quoted as a shell would."""
    try:
        words = shlex.split(arg)
    except ValueError as e:
        raise ExportError(f"cannot read the path ({e}): /export \"my notes.md\"") from None
    if len(words) != 1:
        raise ExportError('/export takes one path (quote one with spaces: /export "my notes.md")')
    return words[0]


@command("quit")
async def quit_(ctx: Context, arg: str) -> None:
    """Leave chatrepl (Ctrl-D works too)."""
    raise EOFError  # as Ctrl-D at the prompt: the loop ends there

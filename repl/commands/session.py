"""Commands about the session and the current thread: /help, /model, /system, /export, /quit."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from repl.commands.registry import COMMANDS, command
from repl.context import Context
from repl.errors import ExportError
from repl.export import FORMATS, format_for, to_json, to_markdown


@command("help")
async def help_(ctx: Context, arg: str) -> None:
    """Show the commands."""
    ordered = sorted(COMMANDS.values(), key=lambda c: (c.name == "quit", c.name != "help"))
    rows = [(f"/{c.name} {c.usage}".rstrip(), c.help) for c in ordered]
    ctx.ui.rows(rows)
    ctx.ui.info("Enter sends · Alt-Enter or Ctrl-J: new line · Ctrl-C stops an answer or clears "
                "the line · Ctrl-Z suspends · Ctrl-D quits · commands may be shortened (/sw work)")


async def model_names(ctx: Context) -> list[str]:
    """The endpoint's models (asked once a session), with the ones in use first."""
    if ctx.models is None:
        ctx.models = await ctx.client.models()
    first = [ctx.model, ctx.config.model]
    return list(dict.fromkeys(first + ctx.models))


@command("model", usage="[NAME]", complete=model_names)
async def model(ctx: Context, arg: str) -> None:
    """Show the model, or use NAME for this thread from now on."""
    if not arg:
        ctx.ui.say(f"model: {ctx.model}")
        return
    ctx.store.update(ctx.thread.name, model=arg)
    ctx.model_override = None
    ctx.ui.info(f"model for {ctx.thread.name!r}: {arg}")


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


def export_thread(ctx: Context, name: str, path: str, fmt: str | None = None) -> str:
    """Write thread ``name`` to ``path`` ('-' for stdout); returns where it went."""
    info = ctx.store.get(name)
    if info is None:
        raise ExportError(f"no thread named {name!r}")
    fmt = format_for(path, fmt)
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (use md or json)")
    messages = ctx.store.messages(name)
    if fmt == "json":
        text = to_json(info, messages)
    else:
        text = to_markdown(info, messages, now=time.time())
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return "standard output"
    _write_private(Path(path).expanduser(), text)
    return path


def _write_private(target: Path, text: str) -> None:
    """Write atomically (temporary file, fsync, rename) with owner-only permissions."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.",
                                   suffix=".tmp")
    except OSError as e:
        raise ExportError(f"cannot write {target}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {e.strerror}") from None


@command("export", usage="[PATH]")
async def export(ctx: Context, arg: str) -> None:
    """Write this thread to PATH (.json: the messages array; default: <thread>.md here)."""
    path = arg or f"{ctx.thread.name}.md"
    where = export_thread(ctx, ctx.thread.name, path)
    ctx.ui.info(f"exported {ctx.thread.message_count} messages to {where}")


@command("quit")
async def quit_(ctx: Context, arg: str) -> None:
    """Leave chatrepl (Ctrl-D works too)."""
    raise EOFError  # as Ctrl-D at the prompt: the loop ends there

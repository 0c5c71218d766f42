"""Commands that manage threads: /new, /switch, /list, /rename, /delete, /history."""

from __future__ import annotations

import time

from repl.commands.registry import CommandError, command
from repl.context import DEFAULT_THREAD, Context
from repl.thread import Message, validate_name


def thread_names(ctx: Context) -> list[str]:
    return [info.name for info in ctx.store.list_threads()]


def last_turns(messages: list[Message], turns: int) -> list[Message]:
    """The tail of ``messages`` that holds the last ``turns`` user messages and their answers."""
    if turns <= 0:
        return []
    starts = [i for i, m in enumerate(messages) if m.role == "user"]
    if len(starts) <= turns:
        return messages
    return messages[starts[-turns]:]


def show_opened(ctx: Context, created: bool) -> None:
    """Tell the user where they are: a new thread, or the last few turns of an old one."""
    info = ctx.thread
    if created:
        ctx.ui.info(f"new thread {info.name!r} · model {ctx.model}")
        return
    turns = ctx.config.show_turns
    tail = last_turns(ctx.store.messages(info.name, last=turns * 4), turns)
    hidden = info.message_count - len(tail)
    earlier = f", {hidden} earlier (/history N)" if hidden > 0 else ""
    count = info.message_count
    ctx.ui.info(f"thread {info.name!r} · {count} messages{earlier} · model {ctx.model}")
    if tail:
        ctx.ui.console.print()
        ctx.ui.messages(tail)


@command("new", usage="[NAME]")
async def new(ctx: Context, arg: str) -> None:
    """Start a new thread (named NAME, or after the date and time)."""
    if arg:
        name = validate_name(arg)
        if ctx.store.get(name):
            raise CommandError(f"a thread named {name!r} already exists; /switch {name} opens it")
    else:
        name = base = time.strftime("%Y-%m-%d-%H%M")
        n = 1
        while ctx.store.get(name):
            n += 1
            name = f"{base}-{n}"
    show_opened(ctx, ctx.open(name))


@command("switch", usage="NAME", complete=thread_names)
async def switch(ctx: Context, arg: str) -> None:
    """Switch to thread NAME (created if it does not exist)."""
    if not arg:
        raise CommandError("usage: /switch NAME (/list shows the threads)")
    show_opened(ctx, ctx.open(arg))


@command("list")
async def list_(ctx: Context, arg: str) -> None:
    """List the threads."""
    ctx.ui.threads(ctx.store.list_threads(), current=ctx.thread.name)


@command("rename", usage="NEW")
async def rename(ctx: Context, arg: str) -> None:
    """Rename the current thread to NEW."""
    if not arg:
        raise CommandError("usage: /rename NEW")
    new_name = validate_name(arg)
    old = ctx.thread.name
    ctx.store.rename(old, new_name)
    ctx.open(new_name)
    ctx.ui.info(f"renamed {old!r} to {new_name!r}")


@command("delete", usage="NAME", complete=thread_names)
async def delete(ctx: Context, arg: str) -> None:
    """Delete thread NAME and its messages (asks first)."""
    if not arg:
        raise CommandError("usage: /delete NAME")
    name = validate_name(arg)
    info = ctx.store.get(name)
    if info is None:
        raise CommandError(f"no thread named {name!r}")
    if not await ctx.ask(f"Delete thread {name!r} and its {info.message_count} messages? [y/N] "):
        ctx.ui.info("kept")
        return
    ctx.store.delete(name)
    ctx.ui.info(f"deleted {name!r}")
    if name == ctx.thread.name:
        others = thread_names(ctx)
        show_opened(ctx, ctx.open(others[0] if others else DEFAULT_THREAD))


@command("history", usage="[N]")
async def history(ctx: Context, arg: str) -> None:
    """Reprint the last N turns (default 5)."""
    try:
        turns = int(arg) if arg else 5
    except ValueError:
        raise CommandError("usage: /history [N], N a number of turns") from None
    messages = ctx.store.messages(ctx.thread.name, last=max(turns, 0) * 4)
    tail = last_turns(messages, turns)
    if not tail:
        ctx.ui.info("no messages yet")
    ctx.ui.messages(tail)

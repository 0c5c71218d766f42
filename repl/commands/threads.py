"""Commands that manage threads: /new, /switch, /list, /rename, /delete, /history."""

from __future__ import annotations

import re
from dataclasses import replace

from repl.commands.registry import CommandError, command
from repl.context import DEFAULT_THREAD, Context
from repl.importers import counted
from repl.services import last_turns, listed, marks, show_opened
from repl.thread import free_name, turn_starts, validate_name
from repl.thread_settings import Origin
from repl.titles import date_name


def thread_names(ctx: Context) -> list[str]:
    return [info.name for info in ctx.store.list_threads()]




@command("new", usage="[NAME]")
async def new(ctx: Context, arg: str) -> None:
    """Start a new thread (named NAME, or after the date and time)."""
    if arg:
        name = validate_name(arg)
        if ctx.store.get(name):
            raise CommandError(f"a thread named {name!r} already exists; /switch {name} opens it")
    else:
        name = date_name(ctx, ctx.clock())
    created = ctx.open(name)
    if not arg and created:
        # named after its first exchange (titles.py)
        ctx.save_settings(replace(ctx.thread.settings, auto_name=True))
    show_opened(ctx, created)


@command("switch", usage="NAME|-", complete=thread_names)
async def switch(ctx: Context, arg: str) -> None:
    """Switch to thread NAME (created if it does not exist); -: back to the one before."""
    if not arg:
        raise CommandError("usage: /switch NAME (/list shows the threads), or /switch - for "
                           "the thread before")
    if arg == "-":  # as cd - does; no thread name starts with "-"
        arg = _previous(ctx)
    show_opened(ctx, ctx.open(arg))


def _previous(ctx: Context) -> str:
    """The thread that was current before this one, in this session."""
    if ctx.previous is None:
        raise CommandError("no previous thread: this session has been on "
                           f"{ctx.thread.name!r} only (/switch NAME opens another)")
    if ctx.store.get(ctx.previous) is None:
        raise CommandError(f"the thread before, {ctx.previous!r}, is gone (deleted or renamed "
                           "by another chatrepl; /trash lists the deleted)")
    return ctx.previous


@command("list")
async def list_(ctx: Context, arg: str) -> None:
    """List the threads."""
    ctx.ui.threads(listed(ctx, ctx.store.list_threads()), current=ctx.thread.name,
                   default_model=ctx.config.model)



@command("rename", usage="NEW")
async def rename(ctx: Context, arg: str) -> None:
    """Rename the current thread to NEW."""
    if not arg:
        raise CommandError("usage: /rename NEW")
    new_name = validate_name(arg)
    old = ctx.thread.name
    ctx.store.rename(old, new_name)
    ctx.renamed(old, new_name)
    ctx.open(new_name)
    # named by the user: never named again
    ctx.store.update(new_name, settings=ctx.thread.settings.named_by_user())
    ctx.ui.info(f"renamed {old!r} to {new_name!r}")


@command("delete", usage="NAME", complete=thread_names)
async def delete(ctx: Context, arg: str) -> None:
    """Move thread NAME to the trash (asks first; /restore brings it back)."""
    if not arg:
        raise CommandError("usage: /delete NAME")
    name = validate_name(arg)
    info = ctx.store.get(name)
    if info is None:
        raise CommandError(f"no thread named {name!r}")
    question = f"Move thread {name!r} ({info.message_count} messages) to the trash? [y/N] "
    if not await ctx.ask(question):
        ctx.ui.info("kept")
        return
    ctx.store.delete(name)
    ctx.ui.info(f"moved {name!r} to the trash (/restore {name} brings it back)")
    if name == ctx.thread.name:
        others = thread_names(ctx)
        show_opened(ctx, ctx.open(others[0] if others else DEFAULT_THREAD))


@command("history", usage="[N]")
async def history(ctx: Context, arg: str) -> None:
    """Reprint the last N turns (default 5), each question under its turn number."""
    if arg and not arg.isdigit():
        raise CommandError("usage: /history [N], N a number of turns")
    turns = int(arg) if arg else 5
    messages = ctx.store.messages(ctx.thread.name)
    starts = turn_starts(messages)
    if not messages:
        ctx.ui.info("no messages yet")
        return
    tail = last_turns(messages, turns)
    first = len(starts) - sum(1 for m in tail if m.role == "user") + 1
    ctx.ui.info(f"{min(turns, len(starts))} of {counted(len(starts), 'turn')} shown")
    versions = marks(ctx, tail)
    for message in tail:
        if message.role == "user":
            ctx.ui.info(f"turn {first}")
            first += 1
        ctx.ui.message(message, versions.get(message.id or 0, ""))


def trashed_names(ctx: Context) -> list[str]:
    return [info.name for info in ctx.store.trash()]


@command("trash")
async def trash(ctx: Context, arg: str) -> None:
    """List the deleted threads; /trash empty [NAME] deletes them for good (asks first)."""
    if arg.split()[:1] == ["empty"]:
        from repl.commands.erase import empty_trash

        return await empty_trash(ctx, arg[5:].strip())
    threads = ctx.store.trash()
    if not threads:
        ctx.ui.info("the trash is empty")
        return
    ctx.ui.threads(threads)


@command("restore", usage="NAME", complete=trashed_names)
async def restore(ctx: Context, arg: str) -> None:
    """Bring thread NAME back from the trash."""
    if not arg:
        raise CommandError("usage: /restore NAME (/trash lists them)")
    restored = ctx.store.restore(arg.strip())
    ctx.ui.info(f"restored {restored!r}" + ("" if restored == arg.strip() else
                                           f" (a thread named {arg.strip()!r} exists)"))


@command("fork", usage="[NAME] [TURN]")
async def fork(ctx: Context, arg: str) -> None:
    """Copy this thread (up to turn TURN) into a new thread NAME, and switch to it."""
    words = arg.split()
    turn = int(words.pop()) if words and TURN.fullmatch(words[-1]) else None
    source = ctx.thread.name
    name = validate_name(" ".join(words)) if words else _free_name(ctx, f"{source}-fork")
    upto = None
    if turn is not None:
        messages = ctx.store.messages(source)
        users = turn_starts(messages)
        if not 1 <= turn <= len(users):
            raise CommandError(f"no turn {turn}: this thread has turns 1 to {len(users)} "
                               "(/history shows them)" if users else
                               f"no turn {turn}: this thread has no messages yet")
        end = users[turn] if turn < len(users) else len(messages)
        upto = messages[end - 1].id
    forked = ctx.store.fork(source, name, upto=upto)
    at = turn if turn is not None else len(turn_starts(ctx.store.messages(source)))
    # where it came from, for /tree (the copy's settings are the source's until now); its name
    # is the user's or the source's: never replaced by a title, as the source's may be
    ctx.store.update(name, settings=replace(forked.settings.named_by_user(),
                                            forked_from=Origin(source, at)))
    ctx.open(name)
    ctx.ui.info(f"forked {source!r} into {name!r}" + (f" at turn {turn}" if turn else ""))
    show_opened(ctx, created=False)


TURN = re.compile(r"[+-]?\d+")  # the last word of /fork's argument, when it is a number


def _free_name(ctx: Context, base: str) -> str:
    return free_name(base, lambda n: ctx.store.get(n) is not None)


@command("search", usage="TEXT")
async def search(ctx: Context, arg: str) -> None:
    """Search every thread for TEXT (all words), best matches first."""
    if not arg:
        raise CommandError("usage: /search TEXT")
    ctx.hits = ctx.store.search(arg)
    ctx.ui.hits(ctx.hits)


@command("goto", usage="N")
async def goto(ctx: Context, arg: str) -> None:
    """Open search hit N: switch to its thread and show that turn."""
    if not ctx.hits:
        raise CommandError("no search results: /search TEXT first")
    if not arg.isdigit() or not 1 <= int(arg) <= len(ctx.hits):
        raise CommandError(f"usage: /goto N, N from 1 to {len(ctx.hits)}")
    hit = ctx.hits[int(arg) - 1]
    ctx.open(hit.thread)
    ctx.went = hit
    messages = ctx.store.messages(hit.thread)
    users = turn_starts(messages)
    start = users[hit.turn - 1] if hit.turn <= len(users) else 0
    end = users[hit.turn] if hit.turn < len(users) else len(messages)
    ctx.ui.info(f"thread {hit.thread!r} · turn {hit.turn} of {len(users)} · model {ctx.model}")
    ctx.ui.messages(messages[start:end])

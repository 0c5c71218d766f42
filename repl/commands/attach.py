"""Commands that stage files and threads for the next message: /attach, /include and /detach
(repl/attachments.py says what a file becomes, repl/included.py what a thread does; chat.send
reads them when the message is sent)."""

from __future__ import annotations

import glob
import shlex
from pathlib import Path

from repl import attachments, included
from repl.attachments import AttachError
from repl.commands.registry import CommandError, command
from repl.commands.threads import thread_names
from repl.context import Context
from repl.importers import counted
from repl.included import Include
from repl.services import stage
from repl.thread import turn_starts, validate_name


def words(arg: str) -> list[str]:
    """The words of ``arg``, quoted as a shell would (``"my cat.png"``)."""
    try:
        return shlex.split(arg)
    except ValueError as e:
        raise CommandError(f"cannot read the paths ({e}): /attach \"my cat.png\" notes.txt") \
            from None


def paths(arg: str) -> list[Path]:
    """The paths in ``arg``, ``~`` expanded, made absolute (the stage outlives a typo'd cwd)."""
    return [Path(word).expanduser().absolute() for word in words(arg)]


def matched(arg: str) -> list[Path]:
    """The paths in ``arg`` as paths() gives them, a word holding ``*``, ``?`` or ``[`` that
    names no file standing for the files it matches (sorted; ``**`` crosses folders); a
    pattern that matches none is an error."""
    found: list[Path] = []
    for word in words(arg):
        path = Path(word).expanduser()
        if not any(c in word for c in "*?[") or path.exists():
            found.append(path.absolute())
            continue
        hits = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not hits:
            raise CommandError(f"no file matches {word}")
        found += [hit.absolute() for hit in hits]
    return list(dict.fromkeys(found))


@command("attach", usage="[PATH...]")
async def attach(ctx: Context, arg: str) -> None:
    """Attach files (images, PDFs, text) to your next message; alone, list what is attached."""
    if not arg:
        _list(ctx)
        return
    stage(ctx, matched(arg))


def _list(ctx: Context) -> None:
    if not (ctx.staged or ctx.included):
        ctx.ui.info("nothing attached; /attach PATH attaches a file to your next message, "
                    "/include NAME a thread")
        return
    for path, label in zip(ctx.staged, attachments.labels(ctx.staged), strict=True):
        try:
            ctx.ui.attached([attachments.examine(path, ctx.config.attach, label)])
        except AttachError as e:
            ctx.ui.error(f"{e}; the message will not be sent until it is fixed or detached")
    for include in ctx.included:
        try:
            ctx.ui.attached([included.load(ctx.store, include, ctx.config.attach).shown])
        except AttachError as e:
            ctx.ui.error(f"{e}; the message will not be sent until it is detached")
    ctx.ui.info(f"{_count(ctx)} attached to your next message")


def _count(ctx: Context) -> str:
    files, threads = len(ctx.staged), len(ctx.included)
    both = [counted(files, "file") if files else "", counted(threads, "thread") if threads else ""]
    return " and ".join(b for b in both if b)


@command("include", usage="NAME [TURN]", complete=thread_names)
async def include(ctx: Context, arg: str) -> None:
    """Attach thread NAME (its conversation, up to turn TURN) to your next message.

    Alone, after /goto N: the thread of that search hit. A /compact summary stands for the
    turns it covers; the thread is read when the message is sent."""
    wanted = _wanted(ctx, arg)
    try:
        shown = included.load(ctx.store, wanted, ctx.config.attach).shown
    except AttachError as e:
        raise CommandError(str(e)) from None
    again = [i for i in ctx.included if i.thread == wanted.thread]
    ctx.included[:] = [i for i in ctx.included if i.thread != wanted.thread] + [wanted]
    ctx.ui.attached([shown])
    back = (f"; this is the thread you are in: /switch - returns to {ctx.previous!r}"
            if wanted.thread == ctx.thread.name and ctx.previous else "")
    ctx.ui.info(f"{_count(ctx)} attached to your next message ("
                f"{'in place of the one included before; ' if again else ''}read when it is "
                f"sent; /detach drops it){back}")


def _wanted(ctx: Context, arg: str) -> Include:
    """The thread (and turn) /include's argument names; alone, the one /goto opened."""
    if not arg:
        if ctx.went is None:
            raise CommandError("usage: /include NAME [TURN] (alone, after /goto N: that "
                               "search hit's thread)")
        return Include(ctx.went.thread)
    words = arg.split()
    turn = None
    if len(words) > 1 and words[-1].isdigit() and ctx.store.get(arg.strip()) is None:
        turn = int(words.pop())
    name = validate_name(" ".join(words))
    if ctx.store.get(name) is None:
        raise CommandError(f"no thread named {name!r} (/list shows them)")
    if turn is not None:
        turns = len(turn_starts(ctx.store.messages(name)))
        if not 1 <= turn <= turns:
            raise CommandError(f"no turn {turn}: thread {name!r} has turns 1 to {turns}"
                               if turns else f"thread {name!r} has no turns yet")
    return Include(name, turn)


def staged_names(ctx: Context) -> list[str]:
    """The names /detach takes: each staged file's label (its name, or enough of its path),
    each included thread's name."""
    return [*attachments.labels(ctx.staged), *(i.thread for i in ctx.included)]


def chosen(ctx: Context, word: str) -> Path:
    """The staged file ``word`` means: its path (as /attach took it), or a name (a label, or
    the end of its path) that only one staged file has. CommandError otherwise."""
    exact = Path(word).expanduser().absolute()
    if exact in ctx.staged:
        return exact
    tail = Path(word).parts
    found = [p for p in ctx.staged if tail and p.parts[-len(tail):] == tail]
    if len(found) == 1:
        return found[0]
    if not found:
        raise CommandError(f"not attached: {word} (/attach lists them)")
    named = ", ".join(attachments.labels(ctx.staged)[ctx.staged.index(p)] for p in found)
    raise CommandError(f"{word} names {len(found)} attached files ({named}): /detach one of "
                       "those, or its path")


@command("detach", usage="[NAME...]", complete=staged_names)
async def detach(ctx: Context, arg: str) -> None:
    """Drop what is attached to your next message (all, or those named: a file or a thread)."""
    if not (ctx.staged or ctx.included):
        ctx.ui.info("nothing attached")
        return
    threads = {i.thread for i in ctx.included}
    named = words(arg)
    gone = set(threads) if not arg else {w for w in named if w in threads}
    dropped = set(ctx.staged) if not arg else {chosen(ctx, w) for w in named if w not in gone}
    ctx.staged[:] = [p for p in ctx.staged if p not in dropped]
    ctx.included[:] = [i for i in ctx.included if i.thread not in gone]
    left = f"; {_count(ctx)} still attached" if ctx.staged or ctx.included else ""
    what = [counted(len(dropped), "file") if dropped else "",
            counted(len(gone), "thread") if gone else ""]
    ctx.ui.info(f"detached {' and '.join(w for w in what if w)}{left}")

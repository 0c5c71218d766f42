"""Commands that stage files for the next message: /attach and /detach (repl/attachments.py
says what a file becomes; chat.send reads the staged files when the message is sent)."""

from __future__ import annotations

import shlex
from pathlib import Path

from repl import attachments
from repl.attachments import AttachError
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.importers import counted


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


@command("attach", usage="[PATH...]")
async def attach(ctx: Context, arg: str) -> None:
    """Attach files (images, PDFs, text) to your next message; alone, list what is attached."""
    if not arg:
        _list(ctx)
        return
    for path in paths(arg):
        if path in ctx.staged:
            ctx.ui.info(f"{path.name} is already attached")
            continue
        try:
            shown = attachments.examine(path, ctx.config.attach)
        except AttachError as e:
            ctx.ui.error(f"{e}; not attached")
            continue
        ctx.staged.append(path)
        ctx.ui.attached([shown])
    if ctx.staged:
        ctx.ui.info(f"{counted(len(ctx.staged), 'file')} attached to your next message "
                    "(read when it is sent; /detach drops them)")


def _list(ctx: Context) -> None:
    if not ctx.staged:
        ctx.ui.info("nothing attached; /attach PATH attaches a file to your next message")
        return
    for path in ctx.staged:
        try:
            ctx.ui.attached([attachments.examine(path, ctx.config.attach)])
        except AttachError as e:
            ctx.ui.error(f"{e}; the message will not be sent until it is fixed or detached")
    ctx.ui.info(f"{counted(len(ctx.staged), 'file')} attached to your next message")


def staged_names(ctx: Context) -> list[str]:
    return [path.name for path in ctx.staged]


@command("detach", usage="[NAME...]", complete=staged_names)
async def detach(ctx: Context, arg: str) -> None:
    """Drop the files attached to your next message (all, or those named)."""
    if not ctx.staged:
        ctx.ui.info("nothing attached")
        return
    names = {Path(word).name for word in words(arg)} if arg else {p.name for p in ctx.staged}
    unknown = names - {p.name for p in ctx.staged}
    if unknown:
        raise CommandError(f"not attached: {', '.join(sorted(unknown))} (/attach lists them)")
    kept = [p for p in ctx.staged if p.name not in names]
    dropped = len(ctx.staged) - len(kept)
    ctx.staged[:] = kept
    left = f"; {counted(len(kept), 'file')} still attached" if kept else ""
    ctx.ui.info(f"detached {counted(dropped, 'file')}{left}")

"""Commands that stage files for the next message: /attach and /detach (repl/attachments.py
says what a file becomes; chat.send reads the staged files when the message is sent)."""

from __future__ import annotations

import glob
import shlex
from pathlib import Path

from repl import attachments
from repl.attachments import AttachError
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.importers import counted
from repl.services import stage


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
    if not ctx.staged:
        ctx.ui.info("nothing attached; /attach PATH attaches a file to your next message")
        return
    for path, label in zip(ctx.staged, attachments.labels(ctx.staged), strict=True):
        try:
            ctx.ui.attached([attachments.examine(path, ctx.config.attach, label)])
        except AttachError as e:
            ctx.ui.error(f"{e}; the message will not be sent until it is fixed or detached")
    ctx.ui.info(f"{counted(len(ctx.staged), 'file')} attached to your next message")


def staged_names(ctx: Context) -> list[str]:
    """The names /detach takes: each staged file's label (its name, or enough of its path)."""
    return attachments.labels(ctx.staged)


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
    """Drop the files attached to your next message (all, or those named: a name or a path)."""
    if not ctx.staged:
        ctx.ui.info("nothing attached")
        return
    dropped = {chosen(ctx, word) for word in words(arg)} if arg else set(ctx.staged)
    kept = [p for p in ctx.staged if p not in dropped]
    ctx.staged[:] = kept
    left = f"; {counted(len(kept), 'file')} still attached" if kept else ""
    ctx.ui.info(f"detached {counted(len(dropped), 'file')}{left}")

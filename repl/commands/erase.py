"""Deliberate erasure: /erase TURN and /trash empty [NAME], the only commands that lose anything.
Each asks first (only "y" goes on), saying what goes with it and what chatrepl cannot clean, and
says what it erased; the store leaves no copy on disk."""

from __future__ import annotations

from repl import titles
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.sanitize import clean_line
from repl.thread import SUMMARY, Message, turn_messages


def _preview(messages: list[Message], size: int = 40) -> str:
    text = " ".join(clean_line(messages[0].content).split())
    return text if len(text) <= size else text[: size - 1] + "…"


def covering(messages: list[Message], doomed: list[Message]) -> list[Message]:
    """The /compact summaries made from any of the ``doomed`` messages: each stands for every
    message up to the one it ``covers``."""
    first = min(m.id or 0 for m in doomed)
    return [m for m in messages if m.role == SUMMARY and m.id is not None
            and m.covers is not None and m.covers >= first]


def _turn(ctx: Context, name: str, arg: str) -> int:
    turns = sum(1 for m in ctx.store.messages(name) if m.role == "user")
    if not arg.strip().isdigit() or not 1 <= int(arg) <= max(turns, 1):
        raise CommandError(f"usage: /erase TURN, TURN from 1 to {turns}" if turns
                           else "this thread has no turns to erase")
    return int(arg)


@command("erase", usage="TURN")
async def erase(ctx: Context, arg: str) -> None:
    """Erase turn TURN for good: its question, answers and every hidden version (asks first)."""
    info = ctx.thread
    turn = _turn(ctx, info.name, arg)
    everything = ctx.store.messages(info.name, hidden=True)
    doomed = [m for m in turn_messages(everything, turn)
              if m.role != SUMMARY and m.id is not None]
    if not doomed:
        raise CommandError(f"turn {turn} has no saved messages to erase")
    summaries = covering(everything, doomed)
    retitle = titles.titled_from(info, doomed)
    also = [*(["the /compact summary made from it goes too"] if summaries else []),
            *([f"the thread's name {clean_line(info.name)!r}, made from it, goes back to its"
               " date"] if retitle else [])]
    question = (f"Erase turn {turn} ({len(doomed)} messages, {_preview(doomed)!r}) for good? "
                + "".join(f"{a[0].upper()}{a[1:]}. " for a in also)
                + "It cannot be undone. [y/N] ")
    if not await ctx.ask(question):
        ctx.ui.info("nothing erased")
        return
    ctx.store.erase(info.name, [m.id for m in [*doomed, *summaries] if m.id is not None])
    hidden = sum(1 for m in doomed if m.hidden is not None)
    versions = f", {hidden} of them taken back earlier" if hidden else ""
    summary = ", and the summary made from it" if summaries else ""
    ctx.ui.info(f"erased turn {turn} for good: {len(doomed)} messages{versions}{summary}")
    if retitle:
        ctx.ui.info(f"the thread is named {titles.untitle(ctx, info)!r} again")


async def empty_trash(ctx: Context, name: str) -> None:
    """/trash empty [NAME]: delete the threads in the trash (all, or those called NAME) for good."""
    trashed = [t for t in ctx.store.trash() if not name or t.name == name]
    if not trashed:
        if name:
            raise CommandError(f"no thread named {name!r} in the trash (/trash lists it)")
        ctx.ui.info("the trash is empty")
        return
    names = sorted({t.name for t in trashed})
    what = f"{len(trashed)} threads" if len(trashed) > 1 else "1 thread"
    listed = ", ".join(repr(clean_line(n)) for n in names)
    if not await ctx.ask(f"Delete {what} in the trash ({listed}) for good? It cannot be undone."
                         " [y/N] "):
        ctx.ui.info("nothing deleted")
        return
    deleted = sum(ctx.store.purge(n) for n in names)
    ctx.ui.info(f"deleted {deleted} {'thread' if deleted == 1 else 'threads'} for good: {listed}")

"""Deliberate erasure: /erase TURN and /trash empty [NAME], the only commands that lose anything.
Each asks first (only "y" goes on) and says what it erased; the store leaves no copy on disk."""

from __future__ import annotations

from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.sanitize import clean_line
from repl.thread import SUMMARY, Message, turn_messages


def _preview(messages: list[Message], size: int = 40) -> str:
    text = " ".join(clean_line(messages[0].content).split())
    return text if len(text) <= size else text[: size - 1] + "…"


@command("erase", usage="TURN")
async def erase(ctx: Context, arg: str) -> None:
    """Erase turn TURN for good: its question, answers and every hidden version (asks first)."""
    name = ctx.thread.name
    turns = sum(1 for m in ctx.store.messages(name) if m.role == "user")
    if not arg.strip().isdigit() or not 1 <= int(arg) <= max(turns, 1):
        raise CommandError(f"usage: /erase TURN, TURN from 1 to {turns}" if turns
                           else "this thread has no turns to erase")
    turn = int(arg)
    doomed = [m for m in turn_messages(ctx.store.messages(name, hidden=True), turn)
              if m.role != SUMMARY and m.id is not None]
    if not doomed:
        raise CommandError(f"turn {turn} has no saved messages to erase")
    hidden = sum(1 for m in doomed if m.hidden is not None)
    question = (f"Erase turn {turn} ({len(doomed)} messages, {_preview(doomed)!r}) for good? "
                "It cannot be undone. [y/N] ")
    if not await ctx.ask(question):
        ctx.ui.info("nothing erased")
        return
    erased = ctx.store.erase(name, [m.id for m in doomed if m.id is not None])
    versions = f", {hidden} of them taken back earlier" if hidden else ""
    ctx.ui.info(f"erased turn {turn} for good: {erased} messages{versions}")


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

"""Deliberate erasure: /erase TURN and /trash empty [NAME], the only commands that lose anything.
Each asks first (only "y" goes on), saying what goes with it and what chatrepl cannot clean, and
says what it erased; the store leaves no copy on disk."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from repl import titles
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.errors import ChatreplError, NotInTrashError
from repl.sanitize import clean_line
from repl.thread import SUMMARY, Message, ThreadInfo, turn_messages


def _preview(messages: list[Message], size: int = 40) -> str:
    text = " ".join(clean_line(messages[0].content).split())
    return text if len(text) <= size else text[: size - 1] + "…"


def covering(messages: list[Message], doomed: list[Message]) -> list[Message]:
    """The /compact summaries made from any of the ``doomed`` messages: each stands for every
    message up to the one it ``covers``."""
    first = min(m.id or 0 for m in doomed)
    return [m for m in messages if m.role == SUMMARY and m.id is not None
            and m.covers is not None and m.covers >= first]


def stored_responses(messages: list[Message]) -> list[str]:
    """The ids of the responses the server keeps for these messages (server_state)."""
    replays = (m.replay for m in messages)
    return [r.response_id for r in replays if r is not None and r.stored and r.response_id]


async def _delete_at_server(ctx: Context, info: ThreadInfo, ids: list[str]) -> None:
    """DELETE each stored response at the thread's endpoint; the ones that fail in one line."""
    failed: list[tuple[str, ChatreplError]] = []
    for rid in ids:
        try:
            await (await ctx.client_for(info)).delete_response(rid)
        except ChatreplError as e:
            failed.append((rid, e))
    if failed:
        listed = ", ".join(clean_line(rid) for rid, _ in failed)
        ctx.ui.error(f"the server still keeps {len(failed)} of its responses ({listed}): "
                     f"{failed[0][1]}")


def _sentences(clauses: list[str]) -> str:
    return "".join(f"{c[0].upper()}{c[1:]}. " for c in clauses)


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
    responses = stored_responses(doomed)
    also = [*(["the /compact summary made from it goes too"] if summaries else []),
            *([f"the thread's name {clean_line(info.name)!r}, made from it, goes back to its"
               " date"] if retitle else []), *_elsewhere(ctx, responses)]
    if not await ctx.ask(f"Erase turn {turn} ({len(doomed)} messages, {_preview(doomed)!r}) "
                         f"for good? {_sentences(also)}It cannot be undone. [y/N] "):
        ctx.ui.info("nothing erased")
        return
    ctx.store.erase(info.name, [m.id for m in [*doomed, *summaries] if m.id is not None])
    hidden = sum(1 for m in doomed if m.hidden is not None)
    versions = f", {hidden} of them taken back earlier" if hidden else ""
    summary = ", and the summary made from it" if summaries else ""
    ctx.ui.info(f"erased turn {turn} for good: {len(doomed)} messages{versions}{summary}")
    _forget_typed(ctx, doomed)
    if retitle:
        ctx.ui.info(f"the thread is named {titles.untitle(ctx, info)!r} again")
    await _delete_at_server(ctx, info, responses)


def _elsewhere(ctx: Context, responses: list[str]) -> list[str]:
    """What the question says of the copies outside the store: what goes, what stays."""
    n = len(responses)
    said = ["the lines typed for it leave the input history"] if ctx.typed else []
    if n:
        said.append("the response the server stored is deleted there" if n == 1 else
                    f"the {n} responses the server stored are deleted there")
    logs = ", mcp.log" if ctx.config.mcp_log_path.exists() else ""  # never scrubbed
    rescued = unsaved()
    logs += f", {', '.join(map(str, rescued))}" if rescued else ""
    said.append(f"exports already written{logs} and MCP servers' own logs keep what they have"
                " (chatrepl cannot clean them)")
    return said


def unsaved() -> list[Path]:
    """The files chatrepl wrote what it could not store to (a full disk: BufferedStore.rescue),
    which may hold what is erased."""
    found: list[Path] = []
    for folder in (Path.home(), Path(tempfile.gettempdir())):
        with contextlib.suppress(OSError):
            found += sorted(folder.glob("chatrepl-unsaved-*.json"))
    return found


def _forget_typed(ctx: Context, messages: list[Message]) -> None:
    """The questions' lines out of the input history (this session's and the file)."""
    if ctx.typed is not None:
        ctx.typed.forget([m.content for m in messages if m.role == "user"])


async def empty_trash(ctx: Context, name: str) -> None:
    """/trash empty [NAME]: delete the threads in the trash (all, or those called NAME) for good."""
    trashed = [t for t in ctx.store.trash() if not name or t.name == name]
    if not trashed:
        if name:
            raise NotInTrashError(name)
        ctx.ui.info("the trash is empty")
        return
    names = sorted({t.name for t in trashed})
    doomed = [(info, messages) for info, messages in ctx.store.trashed_threads()
              if info.name in names]
    responses = [(info, stored_responses(messages)) for info, messages in doomed]
    what = f"{len(trashed)} threads" if len(trashed) > 1 else "1 thread"
    listed = ", ".join(repr(clean_line(n)) for n in names)
    also = _elsewhere(ctx, [r for _, ids in responses for r in ids])
    if not await ctx.ask(f"Delete {what} in the trash ({listed}) for good? "
                         f"{_sentences(also)}It cannot be undone. [y/N] "):
        ctx.ui.info("nothing deleted")
        return
    deleted = sum(ctx.store.purge(n) for n in names)
    ctx.ui.info(f"deleted {deleted} {'thread' if deleted == 1 else 'threads'} for good: {listed}")
    _forget_typed(ctx, [m for _, messages in doomed for m in messages])
    for info, ids in responses:
        await _delete_at_server(ctx, info, ids)

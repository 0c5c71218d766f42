"""Changing what was said: /edit (any question, or an answer) and /continue (an answer cut off).

An edit never changes a stored message: the edited one is a new version (repl/tree.py), the
original is hidden with what followed it, as a branch /version or /undo brings back.
"""

from __future__ import annotations

from dataclasses import replace

from repl import chat, continuation
from repl.commands.registry import CommandError, command
from repl.commands.versions import answer_of, exchange, ids, question, read_tree
from repl.context import Context
from repl.importers import counted
from repl.parts import mark_of, marked, names_of
from repl.thread import (
    EDITED,
    EDITED_BY_USER,
    REPLACED,
    TEXT_PARTS,
    Message,
    Part,
    Usage,
    new_uid,
)
from repl.tree import Tree, tag


@command("edit", usage="[TURN] [-e] | --answer [TURN]")
async def edit(ctx: Context, arg: str) -> None:
    """Edit your last message (or question TURN) and send it again; --answer: correct an answer.

    -e: in $EDITOR; --answer [TURN]: the last answer (or turn TURN's), in $EDITOR."""
    words = arg.split()
    if "--answer" in words:
        await _edit_answer(ctx, [w for w in words if w != "--answer"])
        return
    external = "-e" in words
    words = [w for w in words if w != "-e"]
    if len(words) > 1:
        raise CommandError("usage: /edit [TURN] [-e], or /edit --answer [TURN]")
    tree = read_tree(ctx)
    turn, q = question(tree, words[0] if words else "")
    old = q.content
    long = old.count("\n") > 10
    text = ctx.external_edit(old) if external or long else await ctx.edit(old)
    if text is None or not text.strip():
        ctx.ui.info("not edited")
        return
    gone = tree.after(q)
    ctx.store.hide(ctx.thread.name, ids(gone), tag(EDITED, q))
    count = len(tree.versions(q)) + 1
    later = sum(1 for m in gone if m.role == "user") - 1
    branch = (f" · {_after(later)} stored as a branch (/version "
              f"q{tree.versions(q).index(q) + 1} {turn} or /undo brings "
              f"{'it' if later == 1 else 'them'} back)" if later else "")
    ctx.ui.info(f"turn {turn} ‹{count}/{count}›{branch}")
    if external or long:  # edited out of sight: what is sent is shown, as if typed
        ctx.ui.message(Message("user", text.strip()))
    await chat.send(ctx, text, carried=_attached(q))


def _after(later: int) -> str:
    return "the turn after it stays" if later == 1 else f"the {later} turns after it stay"


def _attached(question: Message) -> tuple[Part, ...]:
    """What a question carried besides what was typed: its attachments go with an edit, each
    with its file's name (a message stored before names were marked gets them now)."""
    return tuple(marked(p, name) if name and mark_of(p) is None else p
                 for p, name in zip(question.parts or (), names_of(question), strict=True)
                 if name or p.get("type") not in TEXT_PARTS)


async def _edit_answer(ctx: Context, words: list[str]) -> None:
    """The answer of the last turn (or of turn TURN) in the editor; the text as edited replaces
    it, marked as the user's, the model's kept as a version. The turns after it follow the
    corrected answer (copied: the original keeps its own)."""
    if len(words) > 1:
        raise CommandError("usage: /edit --answer [TURN]")
    tree = read_tree(ctx)
    turn, q = question(tree, words[0] if words else "")
    answer = answer_of(tree, q)
    if answer is None:
        raise CommandError(f"turn {turn} has no answer to edit")
    if answer.fields.get("tool_calls"):
        raise CommandError(f"turn {turn}'s answer called tools: /edit --answer edits answers "
                           "that are text")
    text = ctx.external_edit(answer.content)
    if text is None or not text.strip() or text.strip() == answer.content.strip():
        ctx.ui.info("not edited")
        return
    name = ctx.thread.name
    later = tree.after(answer)[len(exchange(tree, answer)):]
    ctx.store.hide(name, ids(tree.after(answer)), tag(REPLACED, answer))
    edited = replace(_copy(answer), content=text.rstrip("\n"), status=None, reasoning=None,
                     meta={EDITED_BY_USER: True})
    ctx.store.append(name, edited)
    for m in later:
        ctx.store.append(name, _copy(m))
    ctx.ui.info(f"turn {turn}'s answer is now yours (the model's stays a version: /versions "
                f"{turn})" + (f"; the {counted(sum(1 for m in later if m.role == 'user'), 'turn')}"
                              " after it follow it" if later else ""))
    _show(ctx, read_tree(ctx), turn)


def _copy(m: Message) -> Message:
    """``m`` as a new message (its usage was counted once, by the original)."""
    return replace(m, id=None, uid=new_uid(), hidden=None, parent=None, created_at=0.0,
                   usage=Usage())


def _show(ctx: Context, tree: Tree, turn: int) -> None:
    _, q = question(tree, str(turn))
    answer = answer_of(tree, q)
    if answer is not None:
        shown = exchange(tree, answer)
        ctx.ui.messages(shown, marks=tree.marks(shown))


@command("continue")
async def continue_(ctx: Context, arg: str) -> None:
    """Continue the last answer where it stopped (its output limit, Ctrl-C, a dropped stream).

    The rest streams in after it; the whole is stored as one answer, the partial kept as its
    version before (/versions)."""
    if arg:
        raise CommandError("usage: /continue (it goes on with the last answer)")
    history = ctx.store.messages(ctx.thread.name)
    last = history[-1] if history else None
    if last is None or not continuation.cut_short(last):
        ctx.ui.info(f"nothing to continue: {_finished(last)}")
        return
    await chat.answer(ctx, history, resumed=last)


def _finished(last: Message | None) -> str:
    """Why the conversation's last message is not an answer to go on with."""
    if last is None:
        return "this thread has no answer yet"
    if last.role == "user":
        return "the last message has no answer yet (/retry asks for one)"
    if last.role != "assistant" or last.fields.get("tool_calls"):
        return "the last answer called tools (/retry asks again)"
    if last.status is None:
        return "the last answer is finished"
    return "the last answer stopped before any text (/retry asks again)"

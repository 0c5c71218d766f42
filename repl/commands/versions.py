"""What is in the conversation, of everything stored: /retry, /undo, /redo, /versions, /version.

A thread is a tree (repl/tree.py). Each command here changes which versions are visible: it
hides a version with what follows it, in one step and for one reason of its own, and brings
another back the same way. Nothing is deleted; /undo takes back the last such change (or, when
there is none, the last exchange) and /redo returns what /undo took back.
"""

from __future__ import annotations

from repl import chat
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.importers import counted
from repl.render.ui import when
from repl.thread import (
    EDITED,
    REPLACED,
    UNDONE,
    UNDONE_EDIT,
    Message,
    hidden_for,
)
from repl.tree import Tree, tag

UNDONE_RETRY = f"{UNDONE}:retry"  # /undo of a /retry or of an answer's /version (redo: again)


def read_tree(ctx: Context) -> Tree:
    return Tree.of(ctx.store.messages(ctx.thread.name, hidden=True))


def ids(messages: list[Message]) -> list[int]:
    return [m.id for m in messages if m.id is not None]


def preview(text: str, size: int = 40) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:size] + ("…" if len(line) > size or "\n" in text.strip() else "")


def question(tree: Tree, turn: str = "") -> tuple[int, Message]:
    """(its number, the question) of turn ``turn`` (as /history numbers them; the last one
    when empty); CommandError saying which turns there are."""
    questions = [m for m in tree.visible if m.role == "user"]
    if not questions:
        raise CommandError("this thread has no turns yet")
    if not turn:
        return len(questions), questions[-1]
    if not turn.isdigit() or not 1 <= int(turn) <= len(questions):
        raise CommandError(f"no turn {turn}: this thread has turns 1 to {len(questions)} "
                           "(/history shows them)")
    return int(turn), questions[int(turn) - 1]


def answer_of(tree: Tree, q: Message) -> Message | None:
    """The answer in the conversation to question ``q``, if it has one."""
    return next((m for m in tree.children.get(q.id or 0, [])
                 if m.role == "assistant" and m.hidden is None), None)


def exchange(tree: Tree, m: Message) -> list[Message]:
    """``m`` (a question or an answer) and the visible messages after it, to the next question."""
    found = [m]
    for v in tree.after(m)[1:]:
        if v.role == "user":
            break
        found.append(v)
    return found


def switch(ctx: Context, tree: Tree, shown: Message, chosen: Message, reason: str) -> None:
    """Put version ``chosen`` in place of ``shown``: ``shown`` and what follows it hidden, as one
    branch (for ``reason``), ``chosen`` and the branch hidden with it brought back."""
    name = ctx.thread.name
    ctx.store.hide(name, ids(tree.after(shown)), tag(reason, shown))
    ctx.store.unhide(name, ids(tree.branch(chosen)))


@command("retry")
async def retry(ctx: Context, arg: str) -> None:
    """Ask for another answer to the last message (the old one is kept: /undo brings it back)."""
    tree = read_tree(ctx)
    _, q = question(tree)
    answers = exchange(tree, q)[1:]
    if answers:
        ctx.store.hide(ctx.thread.name, ids(answers), tag(REPLACED, answers[0]))
    count = sum(1 for m in tree.children.get(q.id or 0, []) if m.role == "assistant") + 1
    if count > 1:
        ctx.ui.info(f"‹{count}/{count}›")
    await chat.answer(ctx, ctx.store.messages(ctx.thread.name))


@command("undo", usage="[N]")
async def undo(ctx: Context, arg: str) -> None:
    """Take back the last exchange, or N; after /retry, /edit or /version, the version before."""
    if arg and not (arg.isdigit() and int(arg) >= 1):
        raise CommandError("usage: /undo [N], N a number of exchanges from 1")
    tree = read_tree(ctx)
    if arg and int(arg) > 1:
        _undo_exchanges(ctx, tree, int(arg))
        return
    name = ctx.thread.name
    change = _last_switch(ctx, tree)
    if change is not None:
        group, shown = change
        answer = shown.role != "user"
        ctx.store.hide(name, ids(tree.after(shown)), UNDONE_RETRY if answer else UNDONE_EDIT)
        ctx.store.unhide(name, ids(group))
        what = ("the new answer; the previous one is back" if answer else
                "the edited message and its answer; the original is back")
    else:
        _, q = question(tree)
        taken = tree.after(q)
        ctx.store.hide(name, ids(taken), tag(UNDONE, q))
        what = f"{len(taken)} messages ({preview(q.content)!r})"
    ctx.ui.info(f"took back {what} (/redo returns it)")


def _last_switch(ctx: Context, tree: Tree) -> tuple[list[Message], Message] | None:
    """The last change of version (a /retry, /edit or /version: its answers first) that nothing
    was said after, as (what it hid, the version it put in its place)."""
    for reason in (REPLACED, EDITED):
        group = ctx.store.last_hidden(ctx.thread.name, reason)
        shown = tree.shown_version(group[0]) if group else None
        if shown is None:
            continue
        newest = max(ids(group))
        own = {m.id for m in exchange(tree, shown)}
        if all(m.id in own for m in tree.visible if (m.id or 0) > newest):
            return group, shown
    return None


def _undo_exchanges(ctx: Context, tree: Tree, count: int) -> None:
    """Take back the last ``count`` exchanges at once (one /redo returns them all)."""
    questions = [m for m in tree.visible if m.role == "user"]
    if len(questions) < count:
        n = len(questions)
        raise CommandError(f"this thread has {counted(n, 'exchange')}; /undo {n} takes "
                           f"{'it' if n == 1 else 'them all'} back" if questions else
                           "nothing to take back: no messages yet")
    first = questions[-count]
    taken = tree.after(first)
    ctx.store.hide(ctx.thread.name, ids(taken), tag(UNDONE, first))
    ctx.ui.info(f"took back {count} exchanges ({len(taken)} messages, from "
                f"{preview(first.content)!r}; /redo returns them)")


@command("redo")
async def redo(ctx: Context, arg: str) -> None:
    """Return what /undo took back."""
    name = ctx.thread.name
    undone = ctx.store.last_hidden(name, UNDONE)
    tree = read_tree(ctx)
    version = undone and (hidden_for(undone[0].hidden, UNDONE_RETRY)
                          or hidden_for(undone[0].hidden, UNDONE_EDIT))
    visible = tree.visible
    if not undone or (not version and visible and (visible[-1].id or 0) > (undone[-1].id or 0)):
        raise CommandError("nothing to redo (only what /undo took back last, with nothing said "
                           "since, can come back)")
    shown = tree.shown_version(undone[0]) if version else None
    if shown is not None:  # the version /undo brought back steps aside again
        reason = EDITED if shown.role == "user" else REPLACED
        ctx.store.hide(name, ids(tree.after(shown)), tag(reason, shown))
    ctx.store.unhide(name, ids(undone))
    ctx.ui.messages(undone)


@command("versions", usage="[TURN]")
async def versions(ctx: Context, arg: str) -> None:
    """List the versions of the last answer (or of turn TURN's answer, and of its question)."""
    tree = read_tree(ctx)
    turn, q = question(tree, arg.strip())
    rows: list[tuple[str, str]] = []
    asked = tree.versions(q)
    if len(asked) > 1:
        for n, v in enumerate(asked, 1):
            follows = len(tree.branch(v)) - 1 if v.hidden else len(tree.after(v)) - 1
            rows.append((f"{_star(v)} q{n}", f"{when(v.created_at)} · {preview(v.content)} · "
                                             f"{counted(follows, 'message')} after it"))
    answer = answer_of(tree, q)
    for n, v in enumerate(tree.versions(answer) if answer else [], 1):
        rows.append((f"{_star(v)} {n}", f"{when(v.created_at)} · {v.model or '-'} · "
                                        f"{_first_line(v)}"))
    if len(rows) <= 1:
        ctx.ui.info(f"turn {turn} has no other version (/retry or /edit {turn} makes one)")
        return
    ctx.ui.info(f"turn {turn}: * is in the conversation; /version N {turn} chooses an answer, "
                f"/version qN {turn} a question (with the turns that followed it)")
    ctx.ui.rows(rows)


def _star(m: Message) -> str:
    return " " if m.hidden else "*"


def _first_line(m: Message) -> str:
    text = preview(m.content, 60) or ("(tool calls)" if m.fields.get("tool_calls") else "")
    return text + (f" ({m.status})" if m.status else "")


@command("version", usage="N|qN|-|+ [TURN]")
async def version(ctx: Context, arg: str) -> None:
    """Put version N of the last answer (qN: of the question) in the conversation; - and + step.

    TURN: of turn TURN instead; - and + step to the version before or after (Alt-Left and
    Alt-Right at an empty prompt)."""
    words = arg.split()
    if not 1 <= len(words) <= 2:
        raise CommandError("usage: /version N [TURN] (qN: a version of the question; /versions "
                           "lists them)")
    tree = read_tree(ctx)
    turn, q = question(tree, words[1] if len(words) > 1 else "")
    which = words[0].lower()
    of_question = which.startswith("q")
    shown = q if of_question else answer_of(tree, q)
    if shown is None:
        raise CommandError(f"turn {turn} has no answer yet")
    choices = tree.versions(shown)
    at = choices.index(shown)
    if which in ("-", "+"):
        wanted = at + (1 if which == "+" else -1)
        if not 0 <= wanted < len(choices):
            end = "first" if which == "-" else "last"
            ctx.ui.info(f"‹{at + 1}/{len(choices)}› is the {end} version of turn {turn}'s answer")
            return
    else:
        number = which[1:] if of_question else which
        if not number.isdigit() or not 1 <= int(number) <= len(choices):
            raise CommandError(f"turn {turn}'s {'question' if of_question else 'answer'} has "
                               f"versions 1 to {len(choices)} (/versions {turn} lists them)")
        wanted = int(number) - 1
    chosen = choices[wanted]
    if chosen is not shown:
        switch(ctx, tree, shown, chosen, EDITED if of_question else REPLACED)
    _show_version(ctx, turn, chosen)


def _show_version(ctx: Context, turn: int, chosen: Message) -> None:
    """The version now in the conversation, reprinted with its mark, and what follows it."""
    tree = read_tree(ctx)
    chosen = tree.by_id[chosen.id or 0]
    shown = exchange(tree, chosen)
    ctx.ui.info(f"turn {turn}")
    ctx.ui.messages(shown, marks=tree.marks(shown))
    more = sum(1 for m in tree.after(chosen)[len(shown):] if m.role == "user")
    if more:
        ctx.ui.info(f"{counted(more, 'more turn')} follow it (/history shows them)")


"""/tree: the thread's shape, read from the store: its turns with their versions (``‹2/3›``),
the branches hidden beside them, the thread it was forked from (and at which turn) and the
threads forked from it."""

from __future__ import annotations

from repl.commands.registry import command
from repl.commands.versions import answer_of, preview, read_tree
from repl.context import Context
from repl.importers import counted
from repl.thread import Message
from repl.tree import Tree


@command("tree")
async def tree(ctx: Context, arg: str) -> None:
    """Show the thread's shape: turns with versions, branches, where it was forked from and to."""
    info, shape = ctx.thread, read_tree(ctx)
    origin = info.settings.forked_from
    ctx.ui.info(f"thread {info.name!r}" + (f" · forked from {origin.thread!r} at turn "
                                           f"{origin.turn}{_gone(ctx, origin.thread)}"
                                           if origin else ""))
    questions = [m for m in shape.visible if m.role == "user"]
    rows = [row for n, q in enumerate(questions, 1) for row in _turn(shape, n, q)]
    if rows:
        ctx.ui.rows(rows)
    else:
        ctx.ui.info("no turns yet")
    forks = [(i.name, o.turn) for i in ctx.store.list_threads()
             if (o := i.settings.forked_from) is not None and o.thread == info.name]
    if forks:
        ctx.ui.info("forked to " + ", ".join(f"{name!r} at turn {turn}"
                                             for name, turn in sorted(forks)))
    if any(len(shape.versions(q)) > 1 for q in questions) or forks:
        ctx.ui.info("/versions TURN lists a turn's versions, /version qN TURN brings a branch "
                    "back")


def _gone(ctx: Context, name: str) -> str:
    return "" if ctx.store.get(name) is not None else " (no longer there)"


def _turn(shape: Tree, n: int, q: Message) -> list[tuple[str, str]]:
    """Turn ``n``'s row (its marks, its question's first line) and one row per branch hidden
    beside it (a version of its question, or of its answer, that other turns followed)."""
    answer = answer_of(shape, q)
    marks = [shape.mark(q)] if shape.mark(q) else []
    if answer is not None and shape.mark(answer):
        marks.append(f"answer {shape.mark(answer)}")
    rows = [(f"turn {n}" + (f" {' · '.join(marks)}" if marks else ""), preview(q.content, 60))]
    asked = shape.versions(q)
    for k, v in enumerate(asked, 1):
        if v.hidden is not None:
            rows.append(_branch(shape, f"q{k}", v, preview(v.content, 40)))
    answers = shape.versions(answer) if answer is not None else []
    for k, v in enumerate(answers, 1):
        carried = sum(1 for m in shape.branch(v) if m.role == "user")
        if v.hidden is not None and carried:
            rows.append(_branch(shape, f"answer {k}", v, preview(v.content, 40)))
    return rows


def _branch(shape: Tree, label: str, root: Message, text: str) -> tuple[str, str]:
    carried = sum(1 for m in shape.branch(root) if m.role == "user") - (root.role == "user")
    more = f" · {counted(carried, 'more turn')}" if carried > 0 else ""
    return (f"  └ {label}", f"{text}{more}")

"""/effort: how hard a reasoning model thinks on this thread (reasoning.effort on the Responses
API, reasoning_effort on chat completions), kept in the thread's settings; /reasoning: what a
model thought, stored with its answer (never sent), read again."""

from __future__ import annotations

from repl.commands.registry import CommandError, command
from repl.config import EFFORTS  # each model supports some
from repl.context import Context
from repl.thread import Message


def efforts(ctx: Context) -> list[str]:
    return [*EFFORTS, "-"]


@command("effort", usage="[none|minimal|low|medium|high|xhigh|-]", complete=efforts)
async def effort(ctx: Context, arg: str) -> None:
    """Show the reasoning effort, or set it for this thread (-: the model's default)."""
    value = arg.strip().lower()
    if not value:
        current = ctx.setting("effort")
        ctx.ui.say(f"reasoning effort: {current}" if current
                   else "reasoning effort: the model's default (/effort high sets one)")
        return
    if value not in (*EFFORTS, "-"):
        raise CommandError(f"/effort takes one of {', '.join(EFFORTS)}, or - for the model's "
                           "default")
    ctx.save_setting("effort", None if value == "-" else value)
    ctx.ui.info(f"reasoning effort for {ctx.thread.name!r}: "
                f"{'the model default' if value == '-' else value}")


@command("reasoning", usage="[TURN]")
async def reasoning(ctx: Context, arg: str) -> None:
    """Print the reasoning stored with the last answer, or with turn TURN's answers."""
    if arg and not arg.isdigit():
        raise CommandError("usage: /reasoning [TURN], TURN a number as /history shows them")
    turns = _turns(ctx.store.messages(ctx.thread.name))
    if not turns:
        raise CommandError("this thread has no turns yet")
    turn = int(arg) if arg else len(turns)
    if not 1 <= turn <= len(turns):
        raise CommandError(f"no turn {turn}: this thread has turns 1 to {len(turns)}")
    answers = [m for m in turns[turn - 1] if m.role == "assistant" and m.reasoning]
    if not answers:
        ctx.ui.info(f"turn {turn}'s answer has no stored reasoning (a model that reasons, with "
                    "/effort, keeps it)")
        return
    for answer in answers:
        assert answer.reasoning is not None
        model = f"{answer.model}, " if answer.model else ""
        ctx.ui.info(f"reasoning of turn {turn} ({model}{len(answer.reasoning):,} characters)")
        ctx.ui.dim(answer.reasoning)


def _turns(messages: list[Message]) -> list[list[Message]]:
    """The visible conversation cut into turns, each from its question (as /history numbers
    them); what comes before the first question belongs to no turn."""
    turns: list[list[Message]] = []
    for m in messages:
        if m.role == "user":
            turns.append([m])
        elif turns:
            turns[-1].append(m)
    return turns

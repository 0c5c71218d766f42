"""/effort: how hard a reasoning model thinks on this thread (reasoning.effort on the Responses
API, reasoning_effort on chat completions), kept in the thread's settings."""

from __future__ import annotations

from repl.commands.registry import CommandError, command
from repl.context import Context

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")  # each model supports some


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

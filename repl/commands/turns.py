"""Commands on the conversation as a whole: /compact, /copy, /tokens (what changes which
versions are in it is in versions.py and edits.py).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from repl import compaction, meter, window
from repl.client import ChatClient
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.errors import ContextTooLongError
from repl.events import Delta, Done, Notice, Retrying
from repl.thread import SUMMARY, TRUNCATED, Message, turn_starts


@command("compact", usage="[N]")
async def compact(ctx: Context, arg: str) -> None:
    """Summarise all but the last N turns (default 2) into one message sent in their place."""
    keep = int(arg) if arg.isdigit() else 2
    info = ctx.thread
    messages = ctx.store.messages(info.name)
    users = turn_starts(messages)
    if len(users) <= keep:
        raise CommandError(f"nothing to compact: the thread has {len(users)} turns")
    older = messages[:users[-keep] if keep else len(messages)]
    try:
        client = await ctx.client_for(info)
        request, summary, finish = await _summary(ctx, client, older)
    except asyncio.CancelledError:
        ctx.ui.info("(stopped: nothing was compacted)")
        raise
    _keep_summary(ctx, older, request, summary, finish)


async def _summary(ctx: Context, client: ChatClient,
                   older: list[Message]) -> tuple[compaction.Request, str, str | None]:
    """The summary of ``older``, asked in a request fitted to the window; fitted once more
    to the window the server states if it still finds it too long (learned, as for turns)."""
    turn = ctx.turn()
    key, configured, settings = turn.window_key, turn.configured, dict(turn.settings)

    def fitted(fit: window.Fit) -> compaction.Request:
        size = fit.window(configured)
        request = compaction.request(older, size=size, scale=fit.scale,
                                     limit=compaction.bound(size, settings))
        _say_fitted(ctx, request)
        return request

    fit = turn.fit
    request = fitted(fit)
    try:
        return (request, *await _summarise(ctx, client, request, settings))
    except ContextTooLongError as e:
        if e.partial:
            raise
        fit = fit.refused(request.messages, configured, limit=e.limit, prompt=e.prompt)
    window.save(ctx.store, key, fit)
    ctx.ui.info(f"the server says the summary request is too long for {turn.model}: fitting it "
                "to the window it states")
    request = fitted(fit)
    return (request, *await _summarise(ctx, client, request, settings))


def _say_fitted(ctx: Context, request: compaction.Request) -> None:
    if request.summarised <= 0:
        raise CommandError(f"not even the newest message to summarise fits {ctx.model}'s window "
                           f"beside a summary of {request.limit:,} tokens; nothing was changed")
    if request.left_out:
        ctx.ui.info(f"the {request.left_out} oldest messages do not fit {ctx.model}'s window "
                    "beside the summary: they are left out of it (they stay in the thread)")
    ctx.ui.info(f"summarising {request.summarised} messages in at most {request.limit:,} "
                "tokens…")


async def _summarise(ctx: Context, client: ChatClient, request: compaction.Request,
                     settings: dict[str, Any]) -> tuple[str, str | None]:
    """The summary's text and how it finished (``length``: cut off at its limit)."""
    parts: list[str] = []
    finish: str | None = None
    async for event in client.stream(ctx.store.expand(request.messages), ctx.model,
                                     settings={**settings, "max_tokens": request.limit},
                                     kept=False):  # never stored at the server
        if isinstance(event, Delta):
            parts.append(event.text)
        elif isinstance(event, Retrying | Notice):
            ctx.ui.info(str(event))
        elif isinstance(event, Done):
            finish = event.finish_reason
    return "".join(parts), finish


def _keep_summary(ctx: Context, older: list[Message], request: compaction.Request,
                  summary: str, finish: str | None) -> None:
    """Store the summary, unless it is empty or longer than what it would replace; one cut
    off by its limit (or a stream cut short) is stored flagged truncated, and said."""
    size = compaction.tokens(summary)
    if not summary.strip():
        raise CommandError("the model returned an empty summary; nothing was changed")
    if size > request.replaced:
        raise CommandError(f"the summary (about {size:,} tokens) is longer than the "
                           f"{request.replaced:,} it would replace; nothing was changed")
    cut = finish != "stop"
    ctx.store.append(ctx.thread.name, Message(SUMMARY, summary, model=ctx.model,
                                              covers=older[-1].id,
                                              status=TRUNCATED if cut else None))
    note = "" if not cut else (f" (cut off at its limit of {request.limit:,} tokens: its "
                               "end is missing; /set compact_tokens N allows more)"
                               if finish == "length" else " (cut short: its end may be missing)")
    ctx.ui.info(f"{len(older)} earlier messages are now sent as a summary of about {size:,} "
                f"tokens{note}; they stay in the thread and in /search")


def _preview(text: str, size: int = 40) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:size] + ("…" if len(line) > size or "\n" in text.strip() else "")


CODE_BLOCK = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


@command("copy", usage="[N]")
async def copy(ctx: Context, arg: str) -> None:
    """Copy the last answer (or its N-th code block) to the clipboard."""
    answers = [m for m in ctx.store.messages(ctx.thread.name, last=20) if m.role == "assistant"]
    if not answers:
        raise CommandError("no answer to copy yet")
    text = answers[-1].content
    if arg:
        blocks = [m.group(2) for m in CODE_BLOCK.finditer(text)]
        if not arg.isdigit() or not 1 <= int(arg) <= len(blocks):
            raise CommandError(f"the last answer has {len(blocks)} code blocks: /copy 1.."
                               f"{len(blocks)}" if blocks else "the last answer has no code block")
        text = blocks[int(arg) - 1]
    ctx.ui.copy(text)


@command("tokens")
async def tokens(ctx: Context, arg: str) -> None:
    """Tokens this thread used, the size of the next request, and what it cost."""
    ahead = meter.outlook(ctx)  # the plan the bar shows and sending uses
    turn, plan, answers = ahead.turn, ahead.plan(), ahead.answers
    prompt = sum(m.usage.prompt_tokens or 0 for m in answers)
    completion = sum(m.usage.completion_tokens or 0 for m in answers)
    cached = sum(m.usage.cached_tokens or 0 for m in answers)
    reasoning = sum(m.usage.reasoning_tokens or 0 for m in answers)
    reported = sum(1 for m in answers if m.usage.prompt_tokens is not None)
    limit, model = turn.limit, turn.model
    guessed = "" if turn.fit.measured_ever else " (an estimate: never counted by the server)"
    left = f"; {meter.note(plan)[len('next: '):]}" if plan.dropped or plan.over else ""
    rows = [
        ("used", f"{prompt:,} prompt ({cached:,} cached) + {completion:,} completion "
                 f"({reasoning:,} reasoning) tokens (reported for {reported} of "
                 f"{len(answers)} answers)" if reported or not answers else
                 f"unknown: the server reports no usage for {model} (none of "
                 f"{len(answers)} answers was counted); the figures here are estimates"),
        ("next request", f"about {plan.tokens:,} tokens" +
         (f" of {model}'s {limit:,}" if limit else f" ({model}'s window is unknown)")
         + guessed + left),
    ]
    price, cost = turn.price, ahead.cost
    if price and cost is not None:
        rows.append(("cost", f"${cost:,.4f} at ${price[0]:g} / ${price[1]:g} per million tokens"))
    else:
        rows.append(("cost", f"unknown for {model} (set [prices] in the config file)"))
    ctx.ui.rows(rows)

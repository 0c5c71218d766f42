"""Commands that change the last turns: /retry, /undo, /redo, /edit, /compact, /copy, /tokens.

Nothing here deletes a message: one taken out of the conversation is hidden (kept, searchable)
with the reason, and /redo or the store can bring it back.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from repl import chat, compaction, meter, window
from repl.client import ChatClient
from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.errors import ContextTooLongError
from repl.events import Delta, Done, Notice, Retrying
from repl.importers import counted
from repl.parts import marked, names_of
from repl.thread import (
    EDITED,
    REPLACED,
    SUMMARY,
    TEXT_PARTS,
    TRUNCATED,
    UNDONE,
    UNDONE_EDIT,
    Message,
    Part,
)

UNDONE_RETRY = f"{UNDONE}:retry"  # /undo of a /retry (redo re-applies it)

def _last_exchange(ctx: Context) -> list[Message]:
    """The last user message and everything after it."""
    messages = ctx.store.messages(ctx.thread.name, last=50)
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise CommandError("nothing to take back: this thread has no messages yet")
    return messages[users[-1]:]


def _ids(messages: list[Message]) -> list[int]:
    return [m.id for m in messages if m.id is not None]


@command("retry")
async def retry(ctx: Context, arg: str) -> None:
    """Ask for another answer to the last message (the old one is kept: /undo brings it back)."""
    exchange = _last_exchange(ctx)
    answers = exchange[1:]
    if answers:
        ctx.store.hide(ctx.thread.name, _ids(answers), REPLACED)
    await chat.answer(ctx, ctx.store.messages(ctx.thread.name))


@command("undo", usage="[N]")
async def undo(ctx: Context, arg: str) -> None:
    """Take back the last exchange, or N; after /retry or /edit, bring the earlier version back."""
    if arg and not (arg.isdigit() and int(arg) >= 1):
        raise CommandError("usage: /undo [N], N a number of exchanges from 1")
    if arg and int(arg) > 1:
        _undo_exchanges(ctx, int(arg))
        return
    name = ctx.thread.name
    exchange = _last_exchange(ctx)
    replaced = _after(ctx.store.last_hidden(name, REPLACED), exchange[0])
    edited = ctx.store.last_hidden(name, EDITED)
    if replaced and len(exchange) > 1:  # undo a /retry: the earlier answer returns
        ctx.store.hide(name, _ids(exchange[1:]), UNDONE_RETRY)
        ctx.store.unhide(name, _ids(replaced))
        what = "the new answer; the previous one is back"
    elif edited and _after(exchange, edited[-1]) and _nothing_between(ctx, edited, exchange):
        ctx.store.hide(name, _ids(exchange), UNDONE_EDIT)  # undo an /edit: the original returns
        ctx.store.unhide(name, _ids(edited))
        what = "the edited message and its answer; the original is back"
    else:
        ctx.store.hide(name, _ids(exchange), UNDONE)
        what = f"{len(exchange)} messages ({_preview(exchange[0].content)!r})"
    ctx.ui.info(f"took back {what} (/redo returns it)")


def _undo_exchanges(ctx: Context, count: int) -> None:
    """Take back the last ``count`` exchanges at once (one /redo returns them all)."""
    messages = ctx.store.messages(ctx.thread.name)
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if len(users) < count:
        raise CommandError(f"this thread has {counted(len(users), 'exchange')}; /undo "
                           f"{len(users)} takes {'it' if len(users) == 1 else 'them all'} back"
                           if users else "nothing to take back: no messages yet")
    taken = messages[users[-count]:]
    ctx.store.hide(ctx.thread.name, _ids(taken), UNDONE)
    ctx.ui.info(f"took back {count} exchanges ({len(taken)} messages, from "
                f"{_preview(taken[0].content)!r}; /redo returns them)")


@command("redo")
async def redo(ctx: Context, arg: str) -> None:
    """Return what /undo took back."""
    name = ctx.thread.name
    undone = ctx.store.last_hidden(name, UNDONE)
    visible = ctx.store.messages(name, last=1)
    if not undone or (visible and (visible[-1].id or 0) > (undone[-1].id or 0)
                      and undone[0].hidden != UNDONE_RETRY):
        raise CommandError("nothing to redo (only what /undo took back last, with nothing said "
                           "since, can come back)")
    if undone[0].hidden == UNDONE_RETRY:  # the earlier answer steps back again
        ctx.store.hide(name, _ids(_last_exchange(ctx)[1:]), REPLACED)
    elif undone[0].hidden == UNDONE_EDIT:  # and so does the original question
        ctx.store.hide(name, _ids(_last_exchange(ctx)), EDITED)
    ctx.store.unhide(name, _ids(undone))
    ctx.ui.messages(undone)


def _after(group: list[Message], anchor: Message) -> list[Message]:
    """``group`` if it comes after ``anchor`` (by id), else nothing."""
    if group and anchor.id is not None and (group[0].id or 0) > anchor.id:
        return group
    return []


def _nothing_between(ctx: Context, before: list[Message], after: list[Message]) -> bool:
    """No visible message lies between the two groups (so one replaced the other)."""
    low, high = before[-1].id or 0, after[0].id or 0
    return not any(low < (m.id or 0) < high for m in ctx.store.messages(ctx.thread.name, last=50))


@command("edit", usage="[-e]")
async def edit(ctx: Context, arg: str) -> None:
    """Edit your last message and send it again (-e: in $EDITOR)."""
    exchange = _last_exchange(ctx)
    old = exchange[0].content
    long = old.count("\n") > 10
    text = ctx.external_edit(old) if arg == "-e" or long else await ctx.edit(old)
    if text is None or not text.strip():
        ctx.ui.info("not edited")
        return
    ctx.store.hide(ctx.thread.name, _ids(exchange), EDITED)
    await chat.send(ctx, text, carried=_attached(exchange[0]))


def _attached(question: Message) -> tuple[Part, ...]:
    """What a question carried besides what was typed: its attachments go with an edit, each
    with its file's name (a message stored before names were marked gets them now)."""
    return tuple(marked(p, name) if name else p
                 for p, name in zip(question.parts or (), names_of(question), strict=True)
                 if name or p.get("type") not in TEXT_PARTS)


@command("compact", usage="[N]")
async def compact(ctx: Context, arg: str) -> None:
    """Summarise all but the last N turns (default 2) into one message sent in their place."""
    keep = int(arg) if arg.isdigit() else 2
    info = ctx.thread
    messages = ctx.store.messages(info.name)
    users = [i for i, m in enumerate(messages) if m.role == "user"]
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
                                     settings={**settings, "max_tokens": request.limit}):
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

"""One turn of conversation: save the user's message, stream the answer, save the answer.

The user's message is committed before the request is sent; the answer when it ends; a partial
answer, flagged, when the user interrupts or the request fails. History is re-read from the store
before every request, so turns added by another chatrepl on the same thread are sent too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from repl import attachments, calls, continuation, included, window, wire
from repl.apierrors import blank_answer
from repl.context import Context
from repl.errors import ApiError, ContextTooLongError, EmptyAnswerError, UnsavedError
from repl.events import Calling, Delta, Done, Notice, Retrying
from repl.parts import shown_parts
from repl.render.ui import Streamer
from repl.replay import Replay
from repl.thread import (
    ERROR,
    INTERRUPTED,
    REPLACED,
    TOOL_NAMES,
    TRUNCATED,
    Message,
    Part,
    ThreadInfo,
    Usage,
)
from repl.toolcalls import ToolCall, api_fields
from repl.tree import tag
from repl.turn import Turn
from repl.turn import plan as planned

RESEND = "; /retry sends it again"  # said when a question got no answer at all
FINISH_NOTES = {
    "length": "(truncated: the model reached its output limit)",
    "content_filter": "(stopped by the provider's content filter)",
    "incomplete": "(truncated: the server said the answer is incomplete)",
    None: "(truncated: the stream ended before the answer was finished)",
}


async def send(ctx: Context, text: str, *, carried: tuple[Part, ...] = ()) -> None:
    """Send ``text``, with the staged files, on the current thread and stream the answer. Raises
    NotSentError, having saved and sent nothing, if a staged file cannot be attached; ApiError
    after saving whatever arrived; a cancellation (Ctrl-C) saves the partial answer and
    re-raises. Once the question is stored, nothing is staged any more. ``carried``: parts of
    an earlier version of the question (/edit) that go with the new text. Every attachment of
    the question is shown under it, new and carried alike."""
    info = ctx.thread  # one read: each is a store read
    name, model = info.name, ctx.model_for(info)
    attached = [*attachments.load_all(ctx.staged, ctx.config.attach),  # read now, as they are
                *included.load_all(ctx.store, ctx.included, ctx.config.attach)]
    parts = (*attachments.user_parts(text, attached), *carried) if attached or carried else None
    history = calls.settle(ctx.store.messages(name), functools.partial(_save, ctx, name))
    message = Message("user", text, model=model, parts=parts)
    question = replace(_save(ctx, name, message), parts=parts)  # sent as built, whatever is kept
    ctx.staged.clear()
    ctx.included.clear()
    if parts:
        ctx.ui.attached(shown_parts(parts))
    ctx.remember_model(info)
    await answer(ctx, [*history, question])


async def answer(ctx: Context, history: list[Message], *,
                 resumed: Message | None = None) -> None:
    """Stream the model's answer to ``history`` (fitted into its context window) and save it;
    while it calls tools, run them (repl/calls.py) and ask again with their results.
    A question left without any answer: its error says how to send it again. ``resumed``: an
    answer cut short, the last of ``history``, to go on with (/continue): the rest streams in
    after it and the whole is stored as a version of it (the partial hidden as it is)."""
    turn = await _turn(ctx, ctx.thread)
    joining = None
    if resumed is not None:
        how = continuation.mode(turn.endpoint.continue_as,
                                responses=turn.sender.uses_responses(turn.model))
        joining = continuation.Joining(resumed, how)
        history = joining.messages(history)
    try:
        await calls.ready(ctx)
    except asyncio.CancelledError:  # Ctrl-C while the MCP servers start: as before an answer
        ctx.ui.info(_interrupted(ctx, began=False))
        raise
    for rounds in range(1, ctx.config.max_tool_rounds + 2):
        try:
            done = await _answer(ctx, turn, history, joining)
        except ApiError as e:
            e.resend = not e.partial  # said by its line, in the REPL
            raise
        save = functools.partial(_save, ctx, turn.name)
        if not await calls.run_calls(ctx, turn, done, rounds, save):
            return
        history, joining = ctx.store.messages(turn.name), None
        # the next request: the thread as it is now (a tool "always" allowed), the same client
        turn = ctx.turn(client=turn.client)


async def _turn(ctx: Context, info: ThreadInfo) -> Turn:
    """The turn, its client had once for the turn: before anything is drawn, so that a key
    that cannot be had is one line, and Ctrl-C while a key command runs says so."""
    name = ctx.chosen(info)[0]
    try:
        return await ctx.sending(info)
    except asyncio.CancelledError:
        if not ctx.endpoints.ready(name):
            resend = RESEND if ctx.interactive else ""
            ctx.ui.info(f"(cancelled while the api_key_command of endpoint {name!r} ran: nothing "
                        f"was sent{resend})")
        raise


SHRINKS = 4  # times a turn may be sent again with fewer messages, when refused as too long


async def _answer(ctx: Context, turn: Turn, history: list[Message],
                  joining: continuation.Joining | None = None) -> Done | None:
    """If the server finds it too long, leave out more of the oldest messages: once when it
    states the sizes, a few times (halving) when it answers with nothing (llama-cpp-python, or
    an empty answer through a proxy). What the server counts and states is remembered for the
    model (window.Fit), and so is the window a shrunk request fitted, so the next fits."""
    quirks = wire.load(ctx.store, turn.wire_key, model=turn.model,
                       fold_system=turn.endpoint.fold_system)
    plan = planned(turn, history)
    _say_dropped(ctx, plan, turn.model)
    fit = guess = turn.fit  # what the refusals so far suggest, stated or not
    stated = True
    for shrinks in range(SHRINKS + 1):
        sent = wire.shape(plan.messages, quirks)
        try:
            done = await _stream(ctx, turn, sent, replays(sent, history), joining)
            break
        except (ContextTooLongError, EmptyAnswerError) as e:
            # a size the server states is exact: sent again once; an empty answer, halved
            if e.partial or shrinks == SHRINKS or (shrinks and isinstance(e, ContextTooLongError)):
                raise
            stated = isinstance(e, ContextTooLongError) and e.limit is not None
            plan, guess = _smaller(ctx, turn, history, plan, sent, guess, e)
    if shrinks:  # where the server stated no window, the size that fitted is the window now
        fit = guess if stated else replace(guess, limit=window.holding(plan.tokens))
        window.save(ctx.store, turn.window_key, fit)
    if done is not None:
        _learn(ctx, turn, fit, quirks, sent, done)
    return done


def _smaller(ctx: Context, turn: Turn, history: list[Message], plan: window.Plan,
             sent: list[dict[str, Any]], guess: window.Fit,
             error: ContextTooLongError | EmptyAnswerError) -> tuple[window.Plan, window.Fit]:
    """The plan to send after ``error`` refused ``plan`` (``sent`` as it went), or answered
    it with nothing, and what that suggests of the window; ``error`` again if no more can be
    left out."""
    if isinstance(error, ContextTooLongError):
        guess = guess.refused(sent, turn.configured, limit=error.limit, prompt=error.prompt)
        window.save(ctx.store, turn.window_key, guess)
    else:
        guess = guess.refused(sent, turn.configured)
        if guess.limit:  # no size stated: halve what was sent, so a few tries find it
            guess = replace(guess, limit=guess.limit // 2)
    smaller = planned(turn, history, fit=guess)
    if smaller.dropped <= plan.dropped:
        raise error
    said = ("the server says the conversation is" if isinstance(error, ContextTooLongError)
            else "the server answered with nothing: the conversation is probably")
    ctx.ui.info(f"{said} too long for {turn.model}: sending it again without the "
                f"{smaller.dropped} earliest messages")
    return smaller, guess


def _learn(ctx: Context, turn: Turn, fit: window.Fit, quirks: wire.Quirks,
           sent: list[dict[str, Any]], done: Done) -> None:
    """What the answer's usage teaches: the scale of the estimate; unless the server counted
    far less than was sent, having ignored part of it: then that is said (once) and sent
    another way from now on, and the count teaches nothing."""
    reported = done.usage.prompt_tokens
    if not reported:
        return
    found = wire.ignored(sent, reported, fit.scale)
    if found is None:
        window.save(ctx.store, turn.window_key, fit.measured(sent, reported))
        return
    adapted = found.adapted(quirks)
    if adapted != quirks:
        wire.save(ctx.store, turn.wire_key, adapted)
        changed = replace(adapted, warned=False) != replace(quirks, warned=False)
        ctx.ui.info(found.line(turn.model, changed))


def replays(payload: list[dict[str, Any]], history: list[Message]) -> list[Replay | None]:
    """Beside ``payload``, each answer's record of its Responses exchange (Message.replay),
    for the Responses API to replay or chain from (chat completions leaves it out). The
    answers sent are the last ones of the conversation: matched from the end."""
    kept = [m.replay for m in history if m.role == "assistant" and not window.blank(m)]
    found: list[Replay | None] = [None] * len(payload)
    sent = [i for i, m in enumerate(payload) if m.get("role") == "assistant"]
    for i, replay in zip(reversed(sent), reversed(kept), strict=False):
        found[i] = replay
    return found


def _say_dropped(ctx: Context, plan: window.Plan, model: str) -> None:
    if plan.dropped:
        ctx.ui.info(f"{plan.dropped} earlier messages not sent ({plan.dropped_tokens} tokens) to "
                    f"fit {model}'s context; they stay in the thread (/compact summarises)")


async def _stream(ctx: Context, turn: Turn, payload: list[dict[str, Any]],
                  replayed: list[Replay | None],
                  joining: continuation.Joining | None = None) -> Done | None:
    """``joining``: the answer goes on from a partial (/continue), whose end is shown first."""
    model, view = turn.model, ctx.ui.stream()
    settings = {**turn.settings, **(joining.settings if joining else {})}
    parts: list[str] = []
    thought: list[str] = []
    calling: tuple[ToolCall, ...] = ()  # the tool calls so far, kept if cut short
    done: Done | None = None
    status: str | None = INTERRUPTED
    view.start()
    if joining is not None:
        view.feed(continuation.lead(joining.partial.content))
    painter = asyncio.create_task(_paint(view))
    try:
        # attachments are stored once per SHA-256: their bytes go back in only now
        async for event in turn.sender.stream(ctx.store.expand(payload), model,
                                              settings=settings,
                                              tools=calls.offered(ctx.tools, turn),
                                              replays=replayed):
            if isinstance(event, Delta):
                text = joining.feed(event.text) if joining else event.text
                parts.append(text)
                thought.append(event.reasoning)
                view.feed(text, event.reasoning)
            elif isinstance(event, Calling):
                calling = event.calls
            elif isinstance(event, Retrying | Notice):
                ctx.ui.info(str(event))
            else:
                done = event
        status = None
    except ApiError as e:
        status = ERROR
        e.partial = bool(parts or calling)
        raise
    finally:
        painter.cancel()
        if joining is not None:  # what was held back, in case it repeated the partial's end
            parts.append(rest := joining.flush())
            view.feed(rest)
        made = done.tool_calls if done else calling
        answer = Answer("".join(parts), "".join(thought), model, status, done, made,
                        calls.names(ctx.tools, made))
        status, note = _ending(ctx, answer, turn.settings.get("max_tokens"), joining)
        try:
            # saved before anything is drawn: the terminal may be gone (SIGHUP, a closed pipe)
            if status != BLANK:
                _save_answer(ctx, replace(answer, status=status), joining)
        finally:
            view.finish(note)
    if status == BLANK:  # not an answer: never stored, never sent back; the question stays
        raise blank_answer(done.finish_reason if done else None)
    return done


BLANK = "blank"  # an answer that ended normally with no text and no tool call: a failure


def _ending(ctx: Context, answer: Answer, cap: object = None,
            joining: continuation.Joining | None = None) -> tuple[str | None, str | None]:
    """How the answer ended: its status (as stored, or BLANK) and the note shown under it.
    ``cap``: the request's max_tokens; an answer said complete that used all of it was cut
    there (transformers serve's Responses API says "completed"). The rest of a partial may be
    nothing: the partial was finished."""
    done, status = answer.done, answer.status
    used = done.usage.completion_tokens if done is not None else None
    if (done is not None and done.finish_reason == "stop" and isinstance(cap, int) and cap
            and used is not None and used >= cap and not answer.calls):
        done = replace(done, finish_reason="length")
    if status is None and done is not None and done.finish_reason in ("stop", "tool_calls"):
        message = answer.message()
        empty = not (message.content.strip() or answer.calls) and joining is None
        return (BLANK if empty else None), None
    if status is None and done is not None:
        finish = done.finish_reason
        return TRUNCATED, FINISH_NOTES.get(finish, f"(finished: {finish})")
    if status == INTERRUPTED:
        began = bool(answer.text or answer.reasoning or answer.calls)
        return status, _interrupted(ctx, began=began)
    return status, None


def _interrupted(ctx: Context, *, began: bool) -> str:
    """What Ctrl-C (or a stop signal) leaves under a question: the note says if it got nothing
    and, where the user can, how to send it again."""
    if began:
        return "(interrupted)"
    return f"(interrupted before the answer began{RESEND if ctx.interactive else ''})"


CUT_SHORT = "the answer was cut short while this call arrived: it was not run"


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    reasoning: str  # from reasoning_content / reasoning deltas
    model: str
    status: str | None
    done: Done | None
    calls: tuple[ToolCall, ...] = ()  # whole (from Done), or as far as they arrived
    names: Mapping[str, str] = field(default_factory=dict)  # the calls' tools as shown

    def message(self) -> Message:
        """The answer as stored: its reasoning (a leading <think> block of the text too) beside
        its text, never in it; its tool calls in its fields."""
        reasoning, text = self.reasoning, self.text
        found = THINK.match(text)
        if found:
            reasoning, text = (reasoning + "\n\n" + found.group(1)).strip("\n"), text[found.end():]
        replay = self.done.replay if self.done else None
        meta = {**(replay.meta() if replay else {}),
                **({TOOL_NAMES: dict(self.names)} if self.names else {})}
        return Message("assistant", text, model=self.model, status=self.status,
                       usage=self.done.usage if self.done else Usage(),
                       fields=api_fields(self.calls),
                       reasoning=reasoning or None, meta=meta)


THINK = re.compile(r"\s*<think>(.*?)</think>\s*", re.S)


def _save_answer(ctx: Context, answer: Answer,
                 joining: continuation.Joining | None = None) -> None:
    """Save the answer, its tool calls in it: each gets its result from repl/calls.py,
    or, in an answer cut short, at once, saying it was not run. The rest of a partial is saved
    joined to it, as its next version: the partial hidden, in the same place."""
    message = answer.message()
    if not (message.content or message.fields or message.reasoning) and answer.status is not None:
        return  # nothing arrived: the user's message (or the partial) stays as it was
    name = ctx.thread.name  # now: the thread may have been named (a title) while it streamed
    if joining is not None:
        partial = joining.partial
        message = replace(message, content=joining.joined(message.content),
                          reasoning=joining.reasoning(message.reasoning or ""))
        ctx.store.hide(name, [partial.id or 0], tag(REPLACED, partial))
    _save(ctx, name, message)
    if answer.status is not None:  # cut short: its calls are not run, said at once
        for call in answer.calls:
            _save(ctx, name, calls.tool_message(call.id, CUT_SHORT))


def _save(ctx: Context, name: str, message: Message) -> Message:
    """Append ``message``; if the store cannot write, say so once and go on (it is kept)."""
    try:
        return ctx.store.append(name, message)
    except UnsavedError as e:
        ctx.ui.error(str(e))
        return message


async def _paint(view: Streamer) -> None:
    """Repaint the live region at the renderer's frame rate, so the last token is never stale."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(1 / 30)
            view.tick()

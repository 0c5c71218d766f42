"""One turn of conversation: save the user's message, stream the answer, save the answer.

The user's message is committed before the request is sent; the answer when it ends; a partial
answer, flagged, when the user interrupts or the request fails. History is re-read from the store
before every request, so turns added by another chatrepl on the same thread are sent too.
"""

from __future__ import annotations

import asyncio
import contextlib

from repl.client import Delta, Done
from repl.context import Context
from repl.errors import ApiError, UnsavedError
from repl.export import api_messages
from repl.render.ui import Streamer
from repl.thread import ERROR, INTERRUPTED, TRUNCATED, Message, Usage

FINISH_NOTES = {
    "length": "(truncated: the model reached its output limit)",
    "content_filter": "(stopped by the provider's content filter)",
    None: "(truncated: the stream ended before the answer was finished)",
}


async def send(ctx: Context, text: str) -> None:
    """Send ``text`` on the current thread and stream the answer. Raises ApiError after saving
    whatever arrived; a cancellation (Ctrl-C) saves the partial answer and re-raises."""
    name = ctx.thread.name
    model = ctx.model
    history = ctx.store.messages(name)
    question = _save(ctx, name, Message("user", text, model=model))
    if ctx.thread.model != model:
        ctx.store.update(name, model=model)
    ctx.refresh()
    payload = api_messages(ctx.thread, [*history, question])

    view = ctx.ui.stream()
    parts: list[str] = []
    done: Done | None = None
    status: str | None = INTERRUPTED
    view.start()
    painter = asyncio.create_task(_paint(view))
    try:
        async for event in ctx.client.stream(payload, model):
            if isinstance(event, Delta):
                parts.append(event.text)
                view.feed(event.text, event.reasoning)
            else:
                done = event
        status = None
    except ApiError:
        status = ERROR
        raise
    finally:
        painter.cancel()
        note = None
        if status is None and done is not None and done.finish_reason not in ("stop", "tool_calls"):
            status = TRUNCATED
            note = FINISH_NOTES.get(done.finish_reason, f"(finished: {done.finish_reason})")
        elif status == INTERRUPTED:
            note = "(interrupted)"
        try:
            # saved before anything is drawn: the terminal may be gone (SIGHUP, a closed pipe)
            _save_answer(ctx, "".join(parts), model, status, done)
        finally:
            view.finish(note)


def _save_answer(ctx: Context, answer: str, model: str, status: str | None,
                 done: Done | None) -> None:
    if not answer and status is not None:
        return  # nothing arrived: the user's message stays, unanswered
    usage = done.usage if done else Usage()
    _save(ctx, ctx.thread.name, Message("assistant", answer, model=model, status=status,
                                        usage=usage))
    ctx.refresh()


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

"""Threads that name themselves: a thread /new made without a name is named after its first
exchange by one short background request (``title_model``, else the thread's model); a failure
falls back to the first words of the question. A thread the user named is never renamed."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace

from repl.context import Context
from repl.errors import ChatreplError
from repl.events import Delta
from repl.thread import MAX_NAME, Message, ThreadInfo, free_name, validate_name

TIMEOUT = 20.0  # seconds the title request may take
WORDS = 6  # of the question, when the model gives no title
ASK = ("Give a title of two to five words for the conversation below, in its language. Answer "
       "with the title only: no quotes, no final full stop.")


def due(ctx: Context) -> str | None:
    """The current thread's name if it waits for a title and has its first answer."""
    if not ctx.config.auto_title or not ctx.is_open:
        return None
    info = ctx.thread
    if not info.settings.auto_name or info.message_count < 2:
        return None
    messages = ctx.store.messages(info.name, last=4)
    return info.name if any(m.role == "assistant" and m.content for m in messages) else None


async def name_thread(ctx: Context, name: str) -> str | None:
    """Ask for a title of thread ``name`` and rename it (a free ``-N`` name if taken); the
    first words of its question if the request fails or is cancelled. The new name, or None if
    the thread was renamed or deleted meanwhile."""
    messages = ctx.store.messages(name)
    question = next((m for m in messages if m.role == "user"), None)
    answer = next((m for m in messages if m.role == "assistant"), None)
    title = ""
    try:
        if question and answer:
            title = await asyncio.wait_for(_ask(ctx, name, question, answer), TIMEOUT)
    except (ChatreplError, TimeoutError):
        pass
    except asyncio.CancelledError:  # leaving: the fallback name, then go
        _rename(ctx, name, cleaned(question.content if question else ""), question)
        raise
    return _rename(ctx, name, cleaned(title) or cleaned(question.content if question else ""),
                   question)


async def _ask(ctx: Context, name: str, question: Message, answer: Message) -> str:
    info = ctx.store.get(name)
    if info is None:
        return ""
    endpoint, model = ctx.chosen(info)
    if ctx.config.title_model:
        chosen, model = ctx.endpoints.split(ctx.config.title_model)
        endpoint = chosen or endpoint
    text = f"User: {question.content[:2000]}\n\nAssistant: {answer.content[:2000]}"
    request = [{"role": "system", "content": ASK}, {"role": "user", "content": text}]
    client = await ctx.endpoints.open(endpoint)
    # asked aside: never stored at the server, whatever server_state says
    events = client.stream(request, model, kept=False)
    return "".join([event.text async for event in events if isinstance(event, Delta)])


def cleaned(text: str) -> str:
    """A thread name from a model's title or a question: one line, a few words, no quotes."""
    line = next((s for s in text.strip().splitlines() if s.strip()), "")
    line = re.sub(r"^(title:\s*)", "", line.strip(), flags=re.IGNORECASE)
    words = re.sub(r"[\"'`*#/\\\x00-\x1f\x7f]", "", line).strip(" .-").split()[:WORDS]
    name = " ".join(words)[:MAX_NAME - 4].strip(" .-")
    try:
        return validate_name(name) if name else ""
    except ChatreplError:
        return ""


def _rename(ctx: Context, name: str, title: str, question: Message | None) -> str | None:
    info = ctx.store.get(name)
    if info is None or not info.settings.auto_name:
        return None  # renamed by the user, or deleted, meanwhile
    settings = replace(info.settings, auto_name=False)
    if not title or title == name:
        ctx.store.update(name, settings=settings)
        return None
    if question is not None:  # erasing that question takes the name back (dated_name)
        settings = replace(settings, titled_from=question.uid)
    new = free_name(title, lambda n: ctx.store.get(n) is not None)
    ctx.store.rename(name, new)
    ctx.store.update(new, settings=settings)
    ctx.renamed(name, new)
    return new


def date_name(ctx: Context, when: float) -> str:
    """The name /new gives a thread made at ``when`` (a free ``-N`` one if taken)."""
    base = time.strftime("%Y-%m-%d-%H%M", time.localtime(when))
    return free_name(base, lambda n: ctx.store.get(n) is not None)


def titled_from(info: ThreadInfo, erased: list[Message]) -> bool:
    """Whether the thread's name is a title made from one of the ``erased`` messages."""
    uid = info.settings.titled_from
    return uid is not None and any(m.uid == uid for m in erased)


def untitle(ctx: Context, info: ThreadInfo) -> str:
    """Name the thread after its date again (its title came from an erased turn); the new
    name. It does not name itself again: what remains is named by the user, if at all."""
    new = date_name(ctx, info.created_at)
    ctx.store.rename(info.name, new)
    ctx.store.update(new, settings=info.settings.named_by_user())
    ctx.renamed(info.name, new)
    return new

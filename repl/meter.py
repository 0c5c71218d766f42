"""The next request before it is sent, as /tokens and the bottom bar show it: the current thread
measured once (a prompt, or after a change), then planned again with what is typed, by the same
plan that sending uses (repl/turn.py), so that a key costs the size of its text and no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from repl import attachments, included, prices, turn, window
from repl.context import Context
from repl.errors import ChatreplError
from repl.thread import Message

OK, WARN, FULL = "ok", "warn", "full"  # the bar's levels: fits; earlier turns left out; too long


@dataclass(frozen=True, slots=True)
class Outlook:
    """``staged``: (characters, tokens of the other parts) of the staged files as the next
    question carries them, None if nothing is staged; ``answers``: the thread's answers, those
    taken back too (they were paid for); ``cost``: what they cost (US$), where the model's
    price is known."""

    turn: turn.Turn
    sized: window.Sized
    staged: tuple[int, int] | None
    answers: Sequence[Message]
    cost: float | None

    def plan(self, typed: str = "") -> window.Plan:
        """The next request with ``typed`` as its question (with the staged files); the thread
        as it is if nothing is typed or staged."""
        limit = self.turn.limit
        if not typed and self.staged is None:
            return window.fit(self.sized, limit=limit)
        chars, parts = self.staged or (0, 0)
        size = round(window.estimate_of(chars + len(typed), parts) * self.sized.scale)
        question = {"role": "user", "content": typed}  # the staged parts are in its size
        return window.fit(self.sized, limit=limit, last=question, last_tokens=size)


def outlook(ctx: Context) -> Outlook:
    """The current thread's next request, measured now (one read of the thread: what is
    hidden or shown again changes no count a cache could trust)."""
    current = ctx.turn()
    messages = ctx.store.messages(current.name, hidden=True)
    sized = turn.measure(current, [m for m in messages if m.hidden is None])
    answers = [m for m in messages if m.role == "assistant"]
    price = current.price
    return Outlook(current, sized, _staged(ctx), answers,
                   prices.cost(answers, price) if price else None)


def _staged(ctx: Context) -> tuple[int, int] | None:
    """The staged files' share of the next question, read as sending reads them (a file that
    cannot be read now is said when sending, and counts for nothing here)."""
    if not (ctx.staged or ctx.included):
        return None
    try:
        loaded = [*attachments.load_all(ctx.staged, ctx.config.attach),
                  *included.load_all(ctx.store, ctx.included, ctx.config.attach)]
    except ChatreplError:
        return 0, 0
    return window.counts(Message("user", "", parts=attachments.user_parts("", loaded)).for_api())


def level(plan: window.Plan) -> str:
    return FULL if plan.over else WARN if plan.dropped else OK


def note(plan: window.Plan) -> str:
    """What the bar says before its figures when the next request will not be whole."""
    if plan.over:
        return "next: too long for the window even alone"
    if not plan.dropped:
        return ""
    turns = plan.turns_dropped
    what = f"{turns} earlier turn{'s' * (turns != 1)}" if turns else (
        f"{plan.dropped} earlier message{'s' * (plan.dropped != 1)}")
    return f"next: {what} not sent"


def figures(plan: window.Plan, limit: int | None, cost: float | None) -> str:
    """``41% · 52k/128k · $0.37``: the next request against the window (``?`` where it is
    unknown), and the thread's cost where its model's price is known."""
    size = f"{round(100 * plan.tokens / limit)}% · {short(plan.tokens)}/{short(limit)}" \
        if limit else f"?% · {short(plan.tokens)}/?"
    return size + ("" if cost is None else f" · {dollars(cost)}")


def short(n: int) -> str:
    """A token count as the bar shows it: 812, 5.2k, 52k, 1.0M."""
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1000:.1f}k"
    if n < 999_500:
        return f"{round(n / 1000)}k"
    return f"{n / 1_000_000:.1f}M"


def dollars(cost: float) -> str:
    return "<$0.01" if 0 < cost < 0.005 else f"${cost:,.2f}"

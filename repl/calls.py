"""An answer's tool calls, one after another: shown as one line, approved (y/n/a, or by the
server's ``approve`` patterns, or "always" for this thread), run, and each result stored as it
comes, so a thread killed mid-loop keeps every finished step. Every call gets exactly one tool
message, whatever happens (declined, failed, timed out, interrupted, over the round limit): the
next request stays valid. The per-thread choices live in the thread's settings, as the Turn
read them; the loop is given the session (a ``Session``) and the turn, and looks up neither.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from repl.config import Config
from repl.events import Done
from repl.sanitize import clean_line
from repl.thread import INTERRUPTED, TOOL_NAMES, Message, ThreadInfo
from repl.thread_settings import ThreadSettings
from repl.toolcalls import ToolCall, api_fields
from repl.tools.toolbox import Tool, Toolbox
from repl.turn import Turn

NOT_RUN = "not run: chatrepl has no tool {} (switched off or not available)"
DECLINED = "declined: the user did not allow this call"
STOPPED = "not run: the user stopped the tool calls"
CUT_OFF = "not run: chatrepl stops after max_tool_rounds = {} rounds of tool calls"
UNFINISHED = "not run: chatrepl stopped before running it (interrupted or killed)"
INTERRUPTED_CALL = "interrupted: the user cancelled this call (Ctrl-C) before it finished"

Save = Callable[[Message], Message]


class Screen(Protocol):
    def info(self, text: str) -> None: ...
    def message(self, message: Message) -> None: ...


class Session(Protocol):
    """What the loop is given of the session (repl/context.py's Context is one)."""

    @property
    def ui(self) -> Screen: ...
    @property
    def tools(self) -> Toolbox | None: ...
    @property
    def config(self) -> Config: ...
    @property
    def choose(self) -> Callable[[str], Awaitable[str]]: ...  # y/n/a; "": stop
    @property
    def thread(self) -> ThreadInfo: ...  # the current thread, read now

    def save_settings(self, settings: ThreadSettings) -> None: ...


def switches(settings: ThreadSettings) -> dict[str, bool]:
    """The tool switches in a thread's ``settings`` (pass them to is_on)."""
    return dict(settings.tools)


def is_on(tool: Tool, switched: Mapping[str, bool]) -> bool:
    """A tool's own switch wins over its server's; both are on unless switched off."""
    return bool(switched.get(tool.shown, switched.get(tool.server, True)))


def offered(box: Toolbox | None, turn: Turn) -> list[dict[str, Any]]:
    """The function tools sent with ``turn``'s request: those that are on in its thread."""
    if box is None:
        return []
    switched = switches(turn.thread.settings)
    return [t.function() for t in box.tools() if is_on(t, switched)]


def names(box: Toolbox | None, calls: Sequence[ToolCall]) -> dict[str, str]:
    """The tools of ``calls`` that chatrepl has, as shown (``server.tool``), by the name the
    model called them: kept with the answer (thread.tool_names)."""
    found = (box.find(call.name) for call in calls) if box is not None else ()
    return {tool.api_name: tool.shown for tool in found if tool is not None}


async def ready(ctx: Session) -> None:
    """Before a request: the servers still starting get a moment, so that their tools are sent
    (only the first message of a session can wait; the prompt never does). Each one a request
    goes on without is named once, whether the wait ran out or Ctrl-C cut it short; its tools
    are sent once it is up."""
    box = ctx.tools
    if box is None:
        return
    why = "still starting"
    if box.starting:
        ctx.ui.info(f"waiting for the MCP servers to start: {', '.join(box.waiting())}…")
        await box.started()
        why = f"not started within {box.start_wait:g} s"
    for name in box.left_behind(box.waiting()):
        ctx.ui.info(f"going on without MCP server {name}: {why} (its tools are sent once it is "
                    "up; /tools shows it)")


def tool_message(call_id: str, text: str, *, status: str | None = None) -> Message:
    return Message("tool", text, status=status, fields={"tool_call_id": call_id})


async def run_calls(ctx: Session, turn: Turn, done: Done | None, rounds: int,
                    save: Save) -> bool:
    """Answer the calls of the answer that ``done`` ended (already stored) on ``turn``; True if
    the model should now be asked again (some call ran or was declined: calls of tools chatrepl
    does not have are only answered). ``rounds``: answers with calls so far in this turn, this
    one included. A cancellation (Ctrl-C) cancels the call under way, stores it as interrupted
    and the calls left as not run, and goes on up."""
    if done is None or done.finish_reason not in ("stop", "tool_calls") or not done.tool_calls:
        return False
    calls = done.tool_calls
    if rounds > ctx.config.max_tool_rounds:
        for call in calls:
            save(tool_message(call.id, CUT_OFF.format(ctx.config.max_tool_rounds)))
        ctx.ui.info(f"stopped after {ctx.config.max_tool_rounds} rounds of tool calls "
                    "(max_tool_rounds); the last calls were not run")
        return False
    answered = False
    allowed = list(turn.thread.settings.tools_allowed)  # "always" adds to it as it goes
    for n, call in enumerate(calls):
        try:
            outcome = await _one(ctx, turn, call, save, allowed)
        except asyncio.CancelledError:
            for rest in calls[n + 1:]:
                save(tool_message(rest.id, STOPPED))
            raise
        if outcome is None:
            for rest in calls[n + 1:]:
                save(tool_message(rest.id, STOPPED))
            return False
        answered = answered or outcome
    return answered


async def _one(ctx: Session, turn: Turn, call: ToolCall, save: Save,
               allowed: list[str]) -> bool | None:
    """One call, answered by one stored tool message: True if it ran or the user declined it,
    False if there is no such tool, None if the user stopped the loop."""
    name = call.name
    box = ctx.tools
    tool = box.find(name) if box is not None else None
    if box is None or tool is None or not is_on(tool, switches(turn.thread.settings)):
        save(tool_message(call.id, NOT_RUN.format(name)))
        return False
    arguments, problem = _arguments(call.arguments)
    _show_call(ctx, tool, call)
    if problem is not None:
        save(tool_message(call.id, f"not run: {problem}"))
        return True
    try:
        choice = await _approval(ctx, tool, allowed)
    except asyncio.CancelledError:  # SIGTERM, SIGHUP at the question: answered all the same
        save(tool_message(call.id, STOPPED))
        raise
    if choice != "y":
        save(tool_message(call.id, DECLINED if choice == "n" else STOPPED))
        return True if choice == "n" else None
    try:
        result = await box.call(tool, arguments)
    except asyncio.CancelledError:
        save(tool_message(call.id, INTERRUPTED_CALL, status=INTERRUPTED))
        ctx.ui.info(f"{clean_line(tool.shown)} cancelled")
        raise
    text = f"error: {result.text}" if result.error else result.text
    save(tool_message(call.id, text))
    ctx.ui.message(Message("tool", text))  # untrusted: dimmed, cleaned, first lines only
    return True


def _arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as e:
        return {}, f"the arguments are not valid JSON ({e})"
    if not isinstance(value, dict):
        return {}, "the arguments must be a JSON object"
    return value, None


def _show_call(ctx: Session, tool: Tool, call: ToolCall) -> None:
    """The call as /history shows it (the stored call, its tool's name beside it)."""
    ctx.ui.message(Message("assistant", "", fields=api_fields([call]),
                           meta={TOOL_NAMES: {tool.api_name: tool.shown}}))


async def _approval(ctx: Session, tool: Tool, allowed: list[str]) -> str:
    """y (run), n (decline), or "" (stop); "a" runs it and always allows it in this thread."""
    if (ctx.tools is not None and ctx.tools.approves(tool)) or tool.shown in allowed:
        return "y"
    choice = await ctx.choose(f"run {clean_line(tool.shown)}? [y]es, [n]o, [a]lways in this "
                              "thread: ")
    if choice == "a":
        allowed.append(tool.shown)
        settings = ctx.thread.settings  # read again: the question may have waited long
        if tool.shown not in settings.tools_allowed:
            ctx.save_settings(replace(settings,
                                      tools_allowed=(*settings.tools_allowed, tool.shown)))
        return "y"
    return choice


def settle(history: list[Message], save: Save) -> list[Message]:
    """Give the calls left without a result at the end of ``history`` (chatrepl was killed or
    interrupted before their results were stored) a stored tool message saying they were not
    run, so the thread can go on. Returns the history with them."""
    last = next((i for i in range(len(history) - 1, -1, -1)
                 if history[i].role == "assistant"), None)
    if last is None or any(m.role not in ("assistant", "tool") for m in history[last:]):
        return history
    answered = {m.fields.get("tool_call_id") for m in history[last + 1:]}
    missing = [c.id for c in history[last].tool_calls if c.id not in answered]
    return [*history, *(save(tool_message(i, UNFINISHED)) for i in missing)]

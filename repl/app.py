"""The REPL loop: read a line, route it to a command or the model. Nothing else lives here.

Every line runs as one task that Ctrl-C cancels (an answer under way saves what arrived, whichever
command started it); SIGTERM and SIGHUP (the terminal closed) do the same, then leave. Errors
meant for the user are shown as one line; anything else is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style

from repl import chat, files, meter, titles
from repl.commands import dispatch, parse
from repl.completion import CommandCompleter
from repl.context import DEFAULT_THREAD, Context
from repl.errors import ChatreplError, DamagedError
from repl.input_history import InputHistory
from repl.keys import Pastes, bindings, use_mode, vi_mode
from repl.prompts import Visible, continuation
from repl.redaction import scrub
from repl.render.terminal import QuietInput, terminal_gone
from repl.sanitize import clean_line
from repl.services import apply_preset, show_opened, stage
from repl.signals import STOP_SIGNALS, handling


class App:
    """The loop over ``ctx``; ``input`` and ``output`` are the terminal's (cli.py passes the real
    ones, tests a pipe), the same ones the context's prompts were built on."""

    def __init__(self, ctx: Context, *, input: Input | None = None, output: Output | None = None,
                 history: History | None = None) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._stopping = False  # SIGTERM or SIGHUP: leave once the answer is saved
        self._titling: dict[str, asyncio.Task[None]] = {}  # thread name -> its title request
        self._bar = ("", "")  # the bottom bar's warnings and its thread, read for the prompt
        self._ahead: meter.Outlook | None = None  # the next request, measured for the prompt
        self._due = False  # the prompt on screen waits for its meter
        pastes = Pastes()
        self.session: PromptSession[str] = PromptSession(
            input=input, output=output, history=history or InMemoryHistory(),
            completer=CommandCompleter(ctx), complete_while_typing=False,
            key_bindings=bindings(pastes=pastes, editor=self._edit_typed, steps=True),
            multiline=True,
            enable_suspend=True,  # Ctrl-Z: to the background, as in a shell (fg returns)
            prompt_continuation=continuation, style=BAR_STYLE, input_processors=[Visible()],
        )
        pastes.watch(self.session.app)
        self.session.app.after_render += self._drawn
        use_mode(self.session, ctx.config.editing_mode)

    async def run(self, thread: str | None = None, *, system: str | None = None,
                  preset: str | None = None, attach: Sequence[Path] = ()) -> None:
        """``attach``: -a's files, checked now as /attach checks them."""
        ctx = self.ctx
        created = self._open_first(thread, system)
        if preset:
            apply_preset(ctx, preset, system=system, model=ctx.config.model_override)
        try:
            show_opened(ctx, created)
        except ChatreplError as e:  # a stored thread never stops chatrepl from starting
            ctx.ui.error(e.line(repl=True))
        self._say_damage()
        if attach:
            stage(ctx, list(attach))
        warming: list[asyncio.Task[None]] = []

        def warm(app: object) -> None:  # once the first prompt is drawn, not before
            self.session.app.after_render -= warm
            warming.append(asyncio.create_task(self._warm()))

        self.session.app.after_render += warm
        try:
            # between prompts (which set their own mode) keys typed ahead wait, unechoed, intact
            with handling(self._terminate, *STOP_SIGNALS), QuietInput():
                await self._loop()
        finally:
            for task in [*warming, *self._titling.values()]:
                task.cancel()  # a title not had yet: the question's first words (titles.py)
            await asyncio.gather(*self._titling.values(), return_exceptions=True)
            await ctx.endpoints.aclose()

    def _open_first(self, thread: str | None, system: str | None) -> bool:
        """Open ``thread`` (-t), else the one used last; True if it was created. One whose file
        is damaged (moved aside, kept) is one line, and the default thread opens instead: a
        stored thread never stops chatrepl from starting."""
        ctx = self.ctx
        name = ctx.initial_thread(thread)  # -t "" is an error
        try:
            return ctx.open(name, system=system)
        except DamagedError as e:
            ctx.ui.error(e.line(repl=True))
        created = ctx.open(DEFAULT_THREAD, system=system)
        ctx.ui.info(f"opened a new thread {DEFAULT_THREAD!r}" if name == DEFAULT_THREAD
                    else f"opened {DEFAULT_THREAD!r} instead of {name!r}")
        return created

    def _say_damage(self) -> None:
        """Each stored file the store went on without (a damaged thread file), one line."""
        for line in self.ctx.store.damage():
            self.ctx.ui.warn(line)

    async def _loop(self) -> None:
        """Until Ctrl-D, /quit (both raise EOFError), a stop signal or a closed terminal."""
        while not self._stopping:
            try:
                # the bar is read once a prompt, not at every key (a JSON store parses a
                # file), and again when a thread is named meanwhile (_name); the meter's
                # thread is measured once too (once the prompt is drawn), then only what is
                # typed, at each key
                self._bar = self._bar_parts()
                self._due = True
                if self._ahead is not None and self._ahead.turn.name != self._bar_name():
                    self._ahead = None  # another thread's: none until this one's is measured
                line = await self.session.prompt_async([("bold", "❯ ")],
                                                       bottom_toolbar=self._shown_bar)
                await self.handle(line)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            except OSError as e:
                if terminal_gone(e):  # the window was closed: a normal way to leave
                    break
                raise

    async def handle(self, line: str) -> None:
        """Run ``line`` as the task Ctrl-C cancels, whatever it is (a message, /retry, /compact):
        the answer under way is cut short and saved, and the loop goes on."""
        self._task = asyncio.create_task(self._run(line))
        try:
            # prompt_toolkit takes SIGINT over while it reads a line, so claim it per command
            with handling(self._interrupt, signal.SIGINT):
                await self._task
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise
        finally:
            self._task = None

    async def _run(self, line: str) -> None:
        """The error boundary: a user's error is one line, anything else a logged bug."""
        ctx = self.ctx
        try:
            parsed = parse(line)
            if parsed:
                await dispatch(ctx, *parsed)
            elif line.strip():
                await chat.send(ctx, asked(line))
            self._title()
        except ChatreplError as e:
            ctx.ui.error(ctx.endpoints.scrub(e.line(repl=True)))
        except EOFError:  # /quit
            raise
        except Exception as e:
            if terminal_gone(e):  # the window was closed (what arrived is saved): leave quietly
                raise EOFError from None
            logged = log_bug(ctx.config.log_path, *ctx.endpoints.secrets())
            what = ctx.endpoints.scrub(f"{type(e).__name__}: {e}")
            where = (f"details in {ctx.config.log_path}" if logged is None else
                     f"no details: {ctx.config.log_path} cannot be written ({logged})")
            ctx.ui.error(f"internal error ({what}); {where}")
        self._say_damage()

    def _title(self) -> None:
        """After a thread's first answer, name it in the background (never awaited here)."""
        name = titles.due(self.ctx)
        if name and name not in self._titling:
            self._titling[name] = asyncio.create_task(self._name(name))

    async def _name(self, name: str) -> None:
        try:
            new = await titles.name_thread(self.ctx, name)
            if new:
                self._bar = self._bar_parts()  # at once, not at the next prompt
                await run_in_terminal(
                    lambda: self.ctx.ui.info(f"thread {name!r} is now {new!r}"))
        except Exception:  # a convenience: whatever failed leaves the thread as it was
            log_bug(self.ctx.config.log_path, *self.ctx.endpoints.secrets())
        finally:
            self._titling.pop(name, None)

    def _toolbar(self) -> str:
        """The bar's text apart from vi's mode and the meter, as read for the prompt."""
        return "".join(self._bar_parts())

    def _bar_parts(self) -> tuple[str, str]:
        """What comes before the meter's warning (a narrow bar cuts the end) and after it."""
        if not self.ctx.is_open:
            return "", ""
        info = self.ctx.thread
        unsaved = len(self.ctx.store.pending)
        warning = f" {unsaved} UNSAVED ·" if unsaved else ""  # first: a narrow bar cuts the end
        staged = len(self.ctx.staged) + len(self.ctx.included)  # before the name: sent next
        attached = f" {staged} attached ·" if staged else ""
        model = self.ctx.shown(info)
        return (clean_line(f"{warning}{attached}"),
                clean_line(f" {info.name} · {model} · {info.message_count} messages "))

    def _bar_name(self) -> str | None:
        return self.ctx.thread.name if self.ctx.is_open else None

    def _drawn(self, app: object) -> None:
        """A prompt is on screen: its meter is measured now, after the frame (a long thread
        takes a moment to read, and the prompt never waits for it)."""
        if self._due:
            self._due = False
            asyncio.get_running_loop().call_soon(self._measure)

    def _measure(self) -> None:
        """The thread's part of the next request (None: it cannot be read now; no meter)."""
        try:
            self._ahead = meter.outlook(self.ctx) if self.ctx.is_open else None
        except ChatreplError:
            self._ahead = None
        self.session.app.invalidate()

    def _shown_bar(self) -> StyleAndTextTuples:
        """The bar under the prompt: as read for it (``_bar``), after vi's mode, which changes
        with the keys, and the meter: the next request with what is typed now."""
        front, back = self._bar
        mode = (f" {vi_mode(self.session.app)} ·" if self.ctx.config.editing_mode == "vi"
                else "")
        ahead = self._ahead
        if ahead is None:
            return [("", mode + front + back)]
        plan = ahead.plan(asked(self.session.default_buffer.text))
        style = f"class:meter.{meter.level(plan)}"
        note = meter.note(plan)
        return [("", mode + front), *([(style, f" {note} ·")] if note else []), ("", back),
                ("", "· "), (style, meter.figures(plan, ahead.turn.limit, ahead.cost)),
                ("", " ")]

    async def _edit_typed(self, text: str) -> str | None:
        """Ctrl-X Ctrl-E: the message typed so far, edited in the user's editor."""
        def edit() -> str | None:
            try:
                return self.ctx.external_edit(text)
            except ChatreplError as e:  # no such editor: one line, the text kept
                self.ctx.ui.error(e.line(repl=True))
                return None

        return await run_in_terminal(edit)

    async def _warm(self) -> None:
        await warm_up(self.ctx)
        ahead = self._ahead
        if ahead is None:
            return
        with contextlib.suppress(ChatreplError):  # a window the endpoint's listing stated
            turn = self.ctx.turn()
            if turn.fit.scale == ahead.sized.scale:  # the thread's measure holds
                self._ahead = replace(ahead, turn=turn)
                self.session.app.invalidate()

    def _interrupt(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _terminate(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
        elif self.session.app.is_running:
            self.session.app.exit(exception=EOFError())


async def warm_up(ctx: Context) -> None:
    """What the first message would wait for, done while the user types: the SDK and its client,
    then the streaming renderer (rich's markdown and Pygments), imported in a thread."""
    name = ctx.chosen(ctx.thread)[0]
    # an endpoint's key problem is said when sending; a key command runs then, not while typing
    with contextlib.suppress(ChatreplError):
        if ctx.endpoints.ready(name):
            await ctx.client.warm()
            # the context sizes the thread's endpoint states (vLLM, llama.cpp, OpenRouter...)
            await ctx.endpoints.listing(ctx.store, [name])
    with contextlib.suppress(Exception):
        await asyncio.to_thread(importlib.import_module, "repl.render.stream")


# the bar is drawn reversed: its colours are backgrounds, under the terminal's own background
# colour as text; magenta and red read on a light terminal as on a dark one (yellow does not)
BAR_STYLE = Style.from_dict({"meter.warn": "fg:ansimagenta bold", "meter.full": "fg:ansired bold"})


def asked(line: str) -> str:
    """What ``line`` sends to the model: nothing for a command or a blank line; ``//`` stands
    for a literal ``/``."""
    if parse(line) or not line.strip():
        return ""
    return line[1:] if line.startswith("//") else line


def log_bug(path: Path, *secrets: str) -> str | None:
    """Append the traceback being handled to the log (owner-only), without the API keys; why
    it could not be (a link in its place, a full disk), or None."""
    text = scrub(traceback.format_exc(), secrets)
    try:
        fd = files.open_private(path, os.O_WRONLY | os.O_APPEND)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} unexpected error\n{text}\n")
    except OSError as e:
        return e.strerror or str(e)
    return None


def file_history(path: str) -> InputHistory:
    """Input history kept across runs, readable by the owner only."""
    return InputHistory(Path(path))

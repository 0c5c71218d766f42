"""Drive the real App through prompt_toolkit's pipe input, line by line, as a user would type."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput, Output
from rich.console import Console

from repl import config as config_mod
from repl.app import App
from repl.context import Context, World
from repl.endpoints import Endpoints
from repl.input_history import InputHistory
from repl.prompts import ExternalEditor, LineEditor, YesNo
from repl.render import UI
from repl.store import ThreadStore, open_store
from repl.store.buffered import BufferedStore


class Session:
    """A running chatrepl App; ``await s.line("text")`` types a line, waits for the next prompt."""

    def __init__(self, *, model: str | None = None, width: int = 100, terminal: bool = False,
                 timeout: float | None = None, retries: int | None = None,
                 backoff: float = 1.0, clock: Callable[[], float] = time.time,
                 config: config_mod.Config | None = None,
                 run_settings: dict[str, Any] | None = None, history: bool = False,
                 output: Output | None = None, key_timeout: float | None = None,
                 store: ThreadStore | None = None) -> None:
        """``store``: a backend to use (tests/stores.py), behind the buffer, in place of the
        configured one."""
        self.config = config or config_mod.load(model=model)
        if timeout is not None:
            from dataclasses import replace

            self.config = replace(self.config, timeout=timeout)
        self.out = io.StringIO()
        console = Console(file=self.out, width=width, height=40, force_terminal=terminal,
                          color_system=None, highlight=False)
        self.store = BufferedStore(store) if store is not None else open_store(
            self.config.store, self.config.data_dir)
        self._pipe_cm = create_pipe_input()
        self.pipe = self._pipe_cm.__enter__()
        output = output or DummyOutput()  # a recording one, to see what a terminal would get
        ask = YesNo(input=self.pipe, output=output)
        edit = LineEditor(input=self.pipe, output=output, mode=self.config.editing_mode)
        # with ``history``, the input history file the real REPL keeps (else one in memory)
        typed = InputHistory(self.config.history_path) if history else None
        endpoints = Endpoints(self.config, retries=retries, backoff=backoff, local_servers=(),
                              state=self.store, **({} if key_timeout is None else
                                                   {"key_timeout": key_timeout}))
        ui = UI(console, term="xterm", math=self.config.math)
        world = World(store=self.store, ui=ui, config=self.config, endpoints=endpoints,
                      ask=ask, edit=edit, external_edit=ExternalEditor(self.config.editor),
                      clock=clock, interactive=True, typed=typed)
        self.ctx = Context(world=world, run_settings=dict(run_settings or {}))
        self.app = App(self.ctx, input=self.pipe, output=output, history=typed)
        self._ready = asyncio.Event()
        self.prompts = 0
        for session in (self.app.session, ask.session, edit.session):
            self._count_prompts(session)
        self.task: asyncio.Task[None] | None = None

    def given(self, **parts: Any) -> None:
        """The session's world with ``parts`` in place (a toolbox, another prompt...), as
        cli.py builds the REPL's."""
        from dataclasses import replace

        self.ctx.world = replace(self.ctx.world, **parts)

    def _count_prompts(self, session: Any) -> None:
        original = session.prompt_async

        async def counting(*args: Any, **kwargs: Any) -> str:
            self.prompts += 1
            self._ready.set()
            return str(await original(*args, **kwargs))

        session.prompt_async = counting

    async def start(self, thread: str | None = None, *, system: str | None = None,
                    preset: str | None = None, attach: tuple[Path, ...] = ()) -> Session:
        self.task = asyncio.create_task(self.app.run(thread, system=system, preset=preset,
                                                     attach=attach))
        await self.wait_prompt()
        return self

    async def wait_prompt(self, timeout: float = 30) -> None:
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({waiter, self.task}, timeout=timeout,  # type: ignore[arg-type]
                                    return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self.task in done:
            self.task.result()  # raise what ended the app
            return
        if not done:
            raise TimeoutError("no prompt within the timeout; output so far:\n" + self.text)
        self._ready.clear()
        await asyncio.sleep(0.01)  # let prompt_toolkit attach to the input
        for _ in range(int(timeout / 0.01)):  # and draw the prompt, then measure its meter
            if not self.app._due:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)

    async def line(self, text: str, *, wait: bool = True) -> str:
        """Type ``text`` and Enter; return the output it produced."""
        before = len(self.out.getvalue())
        self.pipe.send_text(text + "\r")
        if wait:
            await self.wait_prompt()
        return self.out.getvalue()[before:]

    async def until(self, check: Callable[[], bool], timeout: float = 30) -> None:
        for _ in range(int(timeout / 0.01)):
            if check():
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("condition not met; output so far:\n" + self.text)

    async def quit(self) -> None:
        if self.task and not self.task.done():
            self.pipe.send_text("/quit\r")
            await asyncio.wait_for(self.task, 30)
        self._pipe_cm.__exit__(None, None, None)
        self.store.close()

    def bar(self) -> str:
        """The bottom bar as the prompt on screen shows it now (vi's mode and the meter too)."""
        from prompt_toolkit.formatted_text import fragment_list_to_text, to_formatted_text

        shown = self.app.session.bottom_toolbar
        assert callable(shown)
        return fragment_list_to_text(to_formatted_text(shown()))

    @property
    def text(self) -> str:
        return self.out.getvalue()


def write_config(isolated: dict[str, str], text: str) -> Path:
    """The test's config.toml (in its own config dir, ``isolated``), holding ``text``."""
    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def editor_replacing(folder: Path, wrong: str, right: str) -> str:
    """A VISUAL command: an editor that replaces ``wrong`` by ``right`` in the file it opens,
    as a user correcting an answer would (/edit --answer)."""
    import sys

    script = folder / "editor.py"
    script.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
                      f"p.write_text(p.read_text().replace({wrong!r}, {right!r}))\n")
    return f"{sys.executable} {script}"


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]

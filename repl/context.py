"""The session: the outside world it was given (store, UI, config, client, prompts, clock) and the
state it owns: which thread is current, and the files staged for the next message. ``ctx.thread``
is read through the store on every use, so it can never be stale; nothing needs refreshing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repl.client import REQUEST_SETTINGS, ChatClient
from repl.config import Config
from repl.errors import StoreError, ThreadError
from repl.render import UI
from repl.store.buffered import BufferedStore
from repl.thread import Hit, ThreadInfo, validate_name
from repl.tools.toolbox import Toolbox

LAST_THREAD = "last_thread"
DEFAULT_THREAD = "default"

Ask = Callable[[str], Awaitable[bool]]  # a yes/no question to the user
Edit = Callable[[str], Awaitable[str | None]]  # let the user edit a text; None: not edited
ExternalEdit = Callable[[str], str | None]  # the same, in the user's editor program
Choose = Callable[[str], Awaitable[str]]  # a tool call's y/n/a question; "": stop


async def refuse(question: str) -> bool:
    """No one to ask (one-shot mode, a benchmark): the answer is no."""
    return False


async def no_edit(text: str) -> str | None:
    return None


def no_external_edit(text: str) -> str | None:
    return None


async def no_choice(question: str) -> str:
    return "n"


@dataclass(kw_only=True)
class Context:
    store: BufferedStore
    ui: UI
    config: Config
    client: ChatClient
    ask: Ask = refuse
    edit: Edit = no_edit
    external_edit: ExternalEdit = no_external_edit
    clock: Callable[[], float] = time.time
    interactive: bool = False  # a REPL, where the user can answer, /retry...
    choose: Choose = no_choice
    tools: Toolbox | None = None  # the MCP servers (repl/tools), started by the REPL
    hits: list[Hit] = field(default_factory=list)  # the last /search results, for /goto
    models: list[str] | None = None  # the endpoint's models, once asked (for completion)
    model_override: str | None = None  # -m for this run, until /model chooses another
    # /attach (or -a): files read and sent with the next message, which empties it
    staged: list[Path] = field(default_factory=list)
    _current: str | None = field(default=None, init=False, repr=False)
    _last_read: ThreadInfo | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.model_override = self.config.model_override

    @property
    def thread(self) -> ThreadInfo:
        """The current thread as the store has it now (as last read if the store cannot be read
        at this moment, e.g. a lost connection; or if another chatrepl deleted it)."""
        if self._current is None:
            raise ThreadError("no thread is open")
        try:
            info = self.store.get(self._current)
        except StoreError:
            info = None
        if info is not None:
            self._last_read = info
        assert self._last_read is not None  # set by open()
        return self._last_read

    @property
    def is_open(self) -> bool:
        return self._current is not None

    @property
    def model(self) -> str:
        return self.model_for(self.thread)

    def model_for(self, info: ThreadInfo) -> str:
        """The model a turn on ``info`` uses: -m (until /model), the thread's, the default."""
        return self.model_override or info.model or self.config.model

    def setting(self, key: str) -> Any:
        """The current thread's own value of the setting ``key`` (None: not set there)."""
        return self.thread.settings.get(key)

    def save_setting(self, key: str, value: Any) -> None:
        """Set the current thread's ``key`` to ``value`` (a JSON value; None unsets it)."""
        settings = {k: v for k, v in self.thread.settings.items() if k != key}
        if value is not None:
            settings[key] = value
        self.store.update(self.thread.name, settings=settings)

    def request_settings(self, info: ThreadInfo) -> dict[str, Any]:
        """The settings a request on ``info`` is sent with (client.REQUEST_SETTINGS names)."""
        return {k: v for k, v in info.settings.items() if k in REQUEST_SETTINGS}

    def initial_thread(self, requested: str | None) -> str:
        """The thread to open: ``requested`` (-t; an empty name is an error), else the last one."""
        if requested is not None:
            return validate_name(requested)
        return validate_name(self.store.get_state(LAST_THREAD) or DEFAULT_THREAD)

    def open(self, name: str, *, system: str | None = None) -> bool:
        """Make ``name`` the current thread, creating it if needed; True if it was created."""
        name = validate_name(name)
        info = self.store.get(name)
        created = info is None
        if info is None:
            try:
                info = self.store.create(name, model=self.config.model_override, system=system)
            except ThreadError:  # another chatrepl created it a moment ago: use that one
                info = self.store.get(name)
                if info is None:
                    raise
                created = False
        if system is not None and not created:
            self.store.update(name, system=system)
        self._current, self._last_read = name, info
        self.store.set_state(LAST_THREAD, name)
        return created

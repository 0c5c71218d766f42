"""The session, in two parts: the ``World`` it is given, built once by cli.py and never changed
while it runs (store, screen, config, endpoints, the user's prompts and editor, clock, MCP
servers, input history), and the ``Context`` that owns the session's state: which thread is
current (and which was before it), -m and -o for this run, the files and threads staged for the
next message, the last search. A request reads neither as it goes: it is resolved once into a
``Turn`` (repl/turn.py). ``ctx.thread`` is read through the store on every use, so it can never
be stale.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from repl import prices, window
from repl.client import ChatClient
from repl.config import DEFAULT_ENDPOINT, SETTINGS, Config, Endpoint, Preset
from repl.endpoints import Endpoints
from repl.errors import StoreError, ThreadError
from repl.included import Include
from repl.render import UI
from repl.store.buffered import BufferedStore
from repl.thread import Hit, ThreadInfo, validate_name
from repl.thread_settings import ThreadSettings
from repl.tools.toolbox import Toolbox
from repl.turn import Turn

LAST_THREAD = "last_thread"
DEFAULT_THREAD = "default"

Ask = Callable[[str], Awaitable[bool]]  # a yes/no question to the user
Edit = Callable[[str], Awaitable[str | None]]  # let the user edit a text; None: not edited
ExternalEdit = Callable[[str], str | None]  # the same, in the user's editor program
Choose = Callable[[str], Awaitable[str]]  # a tool call's y/n/a question; "": stop


class Typed(Protocol):
    """The lines typed at the prompt, kept across runs (repl/input_history.py)."""

    def forget(self, texts: Collection[str]) -> int:
        """Remove the lines that typed ``texts``; how many were kept on disk."""
        ...


async def refuse(question: str) -> bool:
    """No one to ask (one-shot mode, a benchmark): the answer is no."""
    return False


async def no_edit(text: str) -> str | None:
    return None


def no_external_edit(text: str) -> str | None:
    return None


async def no_choice(question: str) -> str:
    return "n"


@dataclass(frozen=True, kw_only=True)
class World:
    """What a session is given (cli.py builds it once; tests and benchmarks, their own)."""

    store: BufferedStore
    ui: UI
    config: Config
    endpoints: Endpoints
    ask: Ask = refuse
    edit: Edit = no_edit
    external_edit: ExternalEdit = no_external_edit
    clock: Callable[[], float] = time.time
    interactive: bool = False  # a REPL, where the user can answer, /retry...
    choose: Choose = no_choice
    tools: Toolbox | None = None  # the MCP servers (repl/tools), started by the REPL
    typed: Typed | None = None  # the input history, in the REPL


@dataclass(kw_only=True)
class Context:
    """The session's state, over its ``world`` (whose parts it lends: ``ctx.store``...)."""

    world: World
    hits: list[Hit] = field(default_factory=list)  # the last /search results, for /goto
    model_override: str | None = None  # -m for this run, until /model chooses another
    run_settings: dict[str, Any] = field(default_factory=dict)  # -o KEY=VALUE, for this run
    # /attach (or -a): files read and sent with the next message, which empties it
    staged: list[Path] = field(default_factory=list)
    included: list[Include] = field(default_factory=list)  # /include: threads, the same way
    went: Hit | None = None  # the search hit /goto opened last (/include alone includes it)
    previous: str | None = None  # the thread current before this one (/switch -)
    _current: str | None = field(default=None, init=False, repr=False)
    _last_read: ThreadInfo | None = field(default=None, init=False, repr=False)

    @property
    def store(self) -> BufferedStore:
        return self.world.store

    @property
    def ui(self) -> UI:
        return self.world.ui

    @property
    def config(self) -> Config:
        return self.world.config

    @property
    def endpoints(self) -> Endpoints:
        return self.world.endpoints

    @property
    def ask(self) -> Ask:
        return self.world.ask

    @property
    def edit(self) -> Edit:
        return self.world.edit

    @property
    def external_edit(self) -> ExternalEdit:
        return self.world.external_edit

    @property
    def clock(self) -> Callable[[], float]:
        return self.world.clock

    @property
    def interactive(self) -> bool:
        return self.world.interactive

    @property
    def choose(self) -> Choose:
        return self.world.choose

    @property
    def tools(self) -> Toolbox | None:
        return self.world.tools

    @property
    def typed(self) -> Typed | None:
        return self.world.typed

    def __post_init__(self) -> None:
        if self.model_override is None:  # none given: the run's -m
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

    @property
    def client(self) -> ChatClient:
        """The client of the current thread's endpoint, if its key is had (``ready``)."""
        return self.endpoints.client(self.chosen(self.thread)[0])

    async def client_for(self, info: ThreadInfo) -> ChatClient:
        """The client of the endpoint a turn on ``info`` goes to, its key had first (a key
        command runs now if it has not: Ctrl-C stops it)."""
        return await self.endpoints.open(self.chosen(info)[0])

    def model_for(self, info: ThreadInfo) -> str:
        """The model a turn on ``info`` uses: -m (until /model), the thread's, the default."""
        return self.chosen(info)[1]

    def chosen(self, info: ThreadInfo, spec: str | None = None) -> tuple[str, str]:
        """(endpoint name, model) of a turn on ``info``: ``spec``, else -m (until /model;
        NAME:MODEL or a model on the thread's endpoint), the thread's, the configured default."""
        default = self.endpoints.split(self.config.model)
        own = info.settings.endpoint or (DEFAULT_ENDPOINT if info.model else
                                         default[0] or DEFAULT_ENDPOINT)
        spec = spec or self.model_override
        if spec:
            name, model = self.endpoints.split(spec)
            return name or own, model
        return own, info.model or default[1]

    def endpoint_for(self, info: ThreadInfo) -> Endpoint:
        return self.endpoints.get(self.chosen(info)[0])

    def shown(self, info: ThreadInfo) -> str:
        """``endpoint:model`` of ``info`` (just the model when only one endpoint is set up)."""
        return self._shown(*self.chosen(info))

    def _shown(self, name: str, model: str) -> str:
        return f"{name}:{model}" if self.endpoints.several else model

    def remember_model(self, info: ThreadInfo, spec: str | None = None) -> None:
        """Keep the model (and endpoint) a turn on ``info`` uses (or ``spec``, chosen by /model
        or a preset) as the thread's own."""
        name, model = self.chosen(info, spec)
        settings = replace(info.settings, endpoint=name if name != DEFAULT_ENDPOINT else None)
        if info.model != model or settings != info.settings:
            self.store.update(info.name, model=model, settings=settings)

    def preset_for(self, info: ThreadInfo) -> Preset | None:
        return self.config.presets.get(str(info.settings.preset))

    def turn(self, info: ThreadInfo | None = None, *, client: ChatClient | None = None) -> Turn:
        """A request on ``info`` (the current thread, read now, if not given) resolved once;
        with ``client`` if it is to be sent (``sending``), else to be looked at."""
        info = self.thread if info is None else info
        name, model = self.chosen(info)
        endpoint = self.endpoints.get(name)
        # the window: configured for its endpoint or for all, stated by the endpoint (its
        # listing), else known to chatrepl
        configured = {**self.config.context_sizes, **endpoint.context_sizes}
        size = (window.match(model, configured) or
                window.reported(self.store, endpoint.base_url, model) or
                window.context_size(model))
        key = window.state_key(model, endpoint.base_url)
        return Turn(info, endpoint, model, self._shown(name, model), self.request_settings(info),
                    key, size, window.load(self.store, key),
                    prices.price(model, self.config.prices), client)

    async def sending(self, info: ThreadInfo) -> Turn:
        """A request on ``info`` to be sent: its client had first (see ``client_for``)."""
        return self.turn(info, client=await self.client_for(info))

    def setting(self, key: str) -> Any:
        """The current thread's own value of the request setting ``key`` (None: not set
        there)."""
        return self.thread.settings.request.get(key)

    def save_setting(self, key: str, value: Any) -> None:
        """Set the current thread's request setting ``key`` to ``value`` (a JSON value; None
        unsets it)."""
        info = self.thread
        self.store.update(info.name, settings=info.settings.with_request(key, value))

    def save_settings(self, settings: ThreadSettings) -> None:
        """Make ``settings`` the current thread's (``replace`` its settings to change some)."""
        self.store.update(self.thread.name, settings=settings)

    def setting_sources(self, info: ThreadInfo) -> dict[str, tuple[Any, str]]:
        """Each request setting that has a value: (value, where it comes from), by precedence:
        this run's -o, the thread, its preset, its endpoint."""
        preset, endpoint = self.preset_for(info), self.endpoint_for(info)
        layers: list[tuple[str, Mapping[str, Any]]] = [
            ("-o for this run", self.run_settings), ("thread", info.settings.request),
            (f"preset {preset.name}" if preset else "", preset.settings if preset else {}),
            (f"endpoint {endpoint.name}", endpoint.settings)]
        found: dict[str, tuple[Any, str]] = {}
        for key in SETTINGS:
            for where, values in layers:
                if values.get(key) is not None:
                    found[key] = (values[key], where)
                    break
        return found

    def request_settings(self, info: ThreadInfo) -> dict[str, Any]:
        """The effective settings a request on ``info`` is sent with, by chatrepl's names (the
        client sends each as its API's field: max_tokens is max_completion_tokens on OpenAI's
        chat completions, max_output_tokens on the Responses API)."""
        return {k: v for k, (v, _) in self.setting_sources(info).items()}

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
                info = self.store.create(name, system=system)
            except ThreadError:  # another chatrepl created it a moment ago: use that one
                info = self.store.get(name)
                if info is None:
                    raise
                created = False
        if system is not None and not created:
            self.store.update(name, system=system)
        if self._current is not None and self._current != name:
            self.previous = self._current
        self._current, self._last_read = name, info
        self.store.set_state(LAST_THREAD, name)
        if created and self.model_override:  # -m is the new thread's model
            self.remember_model(info)
        return created

    def renamed(self, old: str, new: str) -> None:
        """Thread ``old`` is now ``new`` (by /rename, or named in the background): follow it
        if current or previous; its forks name it ``new`` as where they came from."""
        if self._current == old:
            self._current = new
            self.store.set_state(LAST_THREAD, new)
        if self.previous == old:
            self.previous = new
        for info in self.store.list_threads():
            origin = info.settings.forked_from
            if origin is not None and origin.thread == old:
                self.store.update(info.name, settings=replace(
                    info.settings, forked_from=replace(origin, thread=new)))

"""The context every command gets: the injected outside world and the current thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from repl.client import ChatClient
from repl.config import Config
from repl.errors import ThreadError
from repl.render import UI
from repl.store.buffered import BufferedStore
from repl.thread import Hit, ThreadInfo, validate_name

LAST_THREAD = "last_thread"
DEFAULT_THREAD = "default"


async def _refuse(question: str) -> bool:
    return False


async def _no_edit(text: str) -> str | None:
    return None


@dataclass(kw_only=True)
class Context:
    store: BufferedStore
    ui: UI
    config: Config
    client: ChatClient
    ask: Callable[[str], Awaitable[bool]] = _refuse  # a yes/no question to the user
    edit: Callable[[str], Awaitable[str | None]] = _no_edit  # let the user edit a text
    hits: list[Hit] = field(default_factory=list)  # the last /search results, for /goto
    models: list[str] | None = None  # the endpoint's models, once asked (for completion)
    thread: ThreadInfo = field(default=None)  # type: ignore[assignment]  # set by open()
    running: bool = True
    model_override: str | None = None  # -m for this run, until /model chooses another

    def __post_init__(self) -> None:
        self.model_override = self.config.model_override

    @property
    def model(self) -> str:
        return self.model_override or self.thread.model or self.config.model

    def initial_thread(self, requested: str | None) -> str:
        return validate_name(requested or self.store.get_state(LAST_THREAD) or DEFAULT_THREAD)

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
        self.thread = self.store.get(name) or info
        self.store.set_state(LAST_THREAD, name)
        return created

    def refresh(self) -> None:
        """Re-read the current thread's metadata (message count, model) from the store."""
        self.thread = self.store.get(self.thread.name) or self.thread

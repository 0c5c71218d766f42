"""Where threads live: the ThreadStore protocol every backend implements, and open_store().

A store owns all persistence. It returns dataclasses from repl.thread, raises StoreError or
ThreadError, and never prints. Every method commits before it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from repl.thread import Hit, Message, ThreadInfo
from repl.thread_settings import ThreadSettings

if TYPE_CHECKING:
    from repl.store.buffered import BufferedStore
    from repl.store.redis import RedisStore


class ThreadStore(Protocol):
    def list_threads(self) -> list[ThreadInfo]:
        """Every thread, most recently active first."""
        ...

    def get(self, name: str) -> ThreadInfo | None: ...

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        """Create a new thread; ThreadError if the name is taken."""
        ...

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False, settings: ThreadSettings | None = None) -> None:
        """Set the thread's model, system prompt and/or settings (all of them, anew); None
        leaves a field as it is."""
        ...

    def rename(self, old: str, new: str) -> None: ...

    def delete(self, name: str) -> None:
        """Move the thread to the trash (its name is free again)."""
        ...

    def trash(self) -> list[ThreadInfo]:
        """The deleted threads, most recently deleted first."""
        ...

    def purge(self, name: str) -> int:
        """Delete every thread called ``name`` in the trash for good, its bytes gone from the
        store's files; how many there were (ThreadError when none)."""
        ...

    def trashed_threads(self) -> list[tuple[ThreadInfo, list[Message]]]:
        """The deleted threads with their messages (hidden ones too), most recently deleted
        first: what --copy-store carries over."""
        ...

    def restore(self, name: str) -> str:
        """Bring a deleted thread back; returns its name (suffixed if ``name`` is taken)."""
        ...

    def fork(self, source: str, target: str, *, upto: int | None = None) -> ThreadInfo:
        """Copy the conversation of ``source`` (up to message id ``upto``) into a new thread."""
        ...

    def append(self, name: str, message: Message) -> Message:
        """Add a message at the end of the thread; returns it with its id. A message whose uid
        the thread already has (sent again after a lost reply) is not added: the stored one is
        returned."""
        ...

    def append_many(self, name: str, messages: list[Message]) -> list[Message]:
        """Add many messages at once (an import, a copy); returns them with their ids."""
        ...

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]:
        """The conversation in order; only the ``last`` N when given; with ``hidden``, also the
        messages taken out of it (retried, undone, edited)."""
        ...

    def hide(self, name: str, ids: list[int], reason: str) -> None:
        """Take messages out of the conversation; they stay stored and searchable."""
        ...

    def unhide(self, name: str, ids: list[int]) -> None: ...

    def erase(self, name: str, ids: list[int]) -> int:
        """Delete these messages for good, their bytes gone from the store's files (unlike
        ``hide``: the deliberate way to lose something); how many were erased."""
        ...

    def last_hidden(self, name: str, reason: str) -> list[Message]:
        """The group of messages hidden last for ``reason``."""
        ...

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Messages of every live thread containing all words of ``text``, best first."""
        ...

    def expand(self, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The request's messages (Message.for_api) with the attachments' bytes the store keeps
        once per SHA-256 put back in place of their references: called right before sending."""
        ...

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


def loads(text: str | bytes) -> Any:
    """A stored JSON value; StoreError for one nested too deeply to be read back (an import of
    an older chatrepl could store one), so that one thread, not chatrepl, fails to open."""
    import json

    from repl.errors import StoreError

    try:
        return json.loads(text)
    except RecursionError:
        raise StoreError("a stored message nests too deeply to be read (an import of an "
                         "older chatrepl?)") from None


def stored_settings(text: str | None) -> ThreadSettings:
    """A thread's settings from the JSON object a store keeps; none when it cannot be read
    (nested too deeply, not JSON, not an object): settings never keep a thread from being
    listed or opened, and its messages stay as they are."""
    import json

    try:
        raw = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        raw = {}
    return ThreadSettings.of(raw if isinstance(raw, dict) else {})


STORE_HELP = "sqlite:///path/to/file.db, json:///path/to/dir or redis://host:port/db"


def open_backend(url: str, *, redis_password: str | None = None) -> ThreadStore:
    """The backend a store URL names (``redis_password`` for a Redis URL without one)."""
    from repl.errors import ConfigError

    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise ConfigError(f"not a store URL: {url!r} (use {STORE_HELP})")
    if scheme == "sqlite":
        from repl.store.sqlite import SQLiteStore

        return SQLiteStore(Path(rest).expanduser())
    if scheme == "json":
        from repl.store.jsonfiles import JSONStore

        return JSONStore(Path(rest).expanduser())
    if scheme in ("redis", "rediss"):
        return _redis()(url, password=redis_password)
    raise ConfigError(f"unknown store {scheme!r} in {url!r} (use {STORE_HELP})")


def _redis() -> type[RedisStore]:
    """The Redis store class, or ConfigError naming the fix when the redis client is missing."""
    try:
        from repl.store.redis import RedisStore
    except ImportError as e:
        if (e.name or "").partition(".")[0] != "redis":
            raise
        from repl.errors import ConfigError

        raise ConfigError("the Redis store needs the redis client: "
                          "pip install 'chatrepl[redis]'") from None
    return RedisStore


def open_store(url: str | None, data_dir: Path, *,
               redis_password: str | None = None) -> BufferedStore:
    """The store chatrepl uses (SQLite in ``data_dir`` unless a URL says otherwise), behind
    the never-lose-a-message buffer."""
    from repl.store.buffered import BufferedStore

    return BufferedStore(open_backend(url or default_url(data_dir),
                                      redis_password=redis_password))


def default_url(data_dir: Path) -> str:
    """The store where none is configured: one SQLite file in the user data dir."""
    return f"sqlite://{data_dir / 'chatrepl.db'}"

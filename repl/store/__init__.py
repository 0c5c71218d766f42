"""Where threads live: the ThreadStore protocol every backend implements, and open_store().

A store owns all persistence. It returns dataclasses from repl.thread, raises StoreError or
ThreadError, and never prints. Every method commits before it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from repl.thread import Message, ThreadInfo

if TYPE_CHECKING:
    from repl.store.buffered import BufferedStore


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
               clear_system: bool = False) -> None:
        """Set the thread's model and/or system prompt (None leaves a field as it is)."""
        ...

    def rename(self, old: str, new: str) -> None: ...

    def delete(self, name: str) -> None: ...

    def append(self, name: str, message: Message) -> Message:
        """Add a message at the end of the thread; returns it with its id."""
        ...

    def messages(self, name: str, *, last: int | None = None) -> list[Message]:
        """The thread's messages in order; only the ``last`` N when given."""
        ...

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


def open_store(data_dir: Path) -> BufferedStore:
    """The store chatrepl uses: SQLite in ``data_dir``, behind the never-lose-a-message buffer."""
    from repl.store.buffered import BufferedStore
    from repl.store.sqlite import SQLiteStore

    return BufferedStore(SQLiteStore(data_dir / "chatrepl.db"))

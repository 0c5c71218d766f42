"""The errors a user should see, as one hierarchy.

ChatreplError                 shown as one line at the loop boundary; the REPL keeps running
 +-- ConfigError              a bad config file, flag or environment variable
 +-- ThreadError              bad thread name, unknown thread, name already taken
 +-- StoreError               the store cannot be opened, read or written
 |    +-- StoreBusyError      another process holds the write lock for too long
 |    +-- UnsavedError        a write failed; the message is kept in memory until it can be
 +-- ExportError              an export could not be written
 +-- ApiError                 the endpoint refused or failed a request (``kind`` says how)

Anything else that escapes a command is a bug: its traceback is logged, and one line is shown.
"""

from __future__ import annotations


class ChatreplError(Exception):
    """An error with a message meant for the user."""


class ConfigError(ChatreplError):
    pass


class ThreadError(ChatreplError):
    pass


class StoreError(ChatreplError):
    pass


class StoreBusyError(StoreError):
    pass


class UnsavedError(StoreError):
    """Raised after a message that could not be written was kept in memory."""

    def __init__(self, message: str, *, unsaved: int) -> None:
        super().__init__(message)
        self.unsaved = unsaved


class ExportError(ChatreplError):
    pass


class ApiError(ChatreplError):
    """A failed request. ``kind`` is one of: auth, not_found, rate_limit, quota, context, server,
    connection, timeout, bad_request, stream, no_key."""

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.partial = False  # some of the answer had arrived (and was saved) before it failed

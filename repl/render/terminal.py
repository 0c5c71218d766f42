"""Terminal modes between prompts, and while an answer streams.

Keys typed while chatrepl is busy (an answer streaming, a command running) must not be echoed into
the live region, and Ctrl-C must not make the terminal driver throw away output already written
(which would leave a garbled live region), so then: no echo, NOFLSH on; signals stay on so Ctrl-C
still interrupts. ICRNL goes off too: the driver would turn a typed Enter (CR) into LF, which the
next prompt reads as "insert a newline", merging the line typed ahead with the next one.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from types import TracebackType
from typing import Any


def terminal_gone(error: BaseException) -> bool:
    """Is ``error`` the terminal going away (its window closed, the pipe reader gone)?"""
    return isinstance(error, OSError) and error.errno in (errno.EIO, errno.EPIPE, errno.EBADF,
                                                          errno.ENXIO)


def _attributes() -> tuple[int, list[Any]] | None:
    """(fd, termios attributes) of standard input, if it is a POSIX terminal."""
    try:
        import termios

        if not sys.stdin.isatty():
            return None
        fd = sys.stdin.fileno()
        return fd, termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):
        return None  # not a terminal, or not a POSIX one


def _set(fd: int, mode: list[Any]) -> None:
    import termios

    with contextlib.suppress(OSError, termios.error):
        termios.tcsetattr(fd, termios.TCSANOW, mode)


class QuietInput:
    def __init__(self) -> None:
        self._saved: list[Any] | None = None
        self._fd = -1

    def __enter__(self) -> QuietInput:
        found = _attributes()
        if found is None:
            return self
        import termios

        fd, saved = found
        mode = list(saved)
        mode[0] &= ~termios.ICRNL
        mode[3] = (mode[3] & ~(termios.ECHO | termios.ICANON)) | termios.NOFLSH
        _set(fd, mode)
        self._saved, self._fd = saved, fd
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._saved is not None:
            _set(self._fd, self._saved)
            self._saved = None


@contextlib.contextmanager
def normal_input() -> Iterator[None]:
    """The terminal as programs expect it (echo, lines, Enter as newline), for the user's editor
    run from inside chatrepl; the mode before comes back after."""
    found = _attributes()
    if found is None:
        yield
        return
    import termios

    fd, saved = found
    mode = list(saved)
    mode[0] |= termios.ICRNL
    mode[3] |= termios.ECHO | termios.ICANON
    _set(fd, mode)
    try:
        yield
    finally:
        _set(fd, saved)

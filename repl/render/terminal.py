"""Terminal modes while an answer streams.

Keys typed during an answer must not be echoed into the live region, and Ctrl-C must not make the
terminal driver throw away output already written (which would leave a garbled live region), so
while streaming: no echo, NOFLSH on; signals stay on so Ctrl-C still interrupts.
"""

from __future__ import annotations

import errno
import sys
from types import TracebackType
from typing import Any


def terminal_gone(error: BaseException) -> bool:
    """Is ``error`` the terminal going away (its window closed, the pipe reader gone)?"""
    return isinstance(error, OSError) and error.errno in (errno.EIO, errno.EPIPE, errno.EBADF,
                                                          errno.ENXIO)


class QuietInput:
    def __init__(self) -> None:
        self._saved: list[Any] | None = None
        self._fd = -1

    def __enter__(self) -> QuietInput:
        try:
            import termios

            fd = sys.stdin.fileno()
            if not sys.stdin.isatty():
                return self
            saved = termios.tcgetattr(fd)
            mode = list(saved)
            mode[3] = (mode[3] & ~(termios.ECHO | termios.ICANON)) | termios.NOFLSH
            termios.tcsetattr(fd, termios.TCSANOW, mode)
            self._saved, self._fd = saved, fd
        except (ImportError, OSError, ValueError, AttributeError):
            pass  # not a terminal, or not a POSIX one
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSANOW, self._saved)
            except (OSError, termios.error):
                pass
            self._saved = None

"""A stdio MCP server's stderr: a pipe of its own, each line written to ``mcp.log`` with the time
and the server's name before it (servers' lines never mix into one another; its env's
credentials hidden, its escape sequences shown, never kept raw), the last line kept
for the line that says the server exited, and the processes writing to it found to be stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from repl.redaction import scrub
from repl.sanitize import clean, clean_line

CHUNK = 65536  # bytes read at once; a line longer than this is written as several
SHOWN = 160  # characters of the last line shown in the terminal


class ServerLog:
    """Give ``errlog`` to the SDK as the server's stderr; ``close`` once the server is gone."""

    def __init__(self, name: str, log: TextIO, *, clock: Callable[[], float] = time.time,
                 secrets: Sequence[str] = ()) -> None:
        self.name = name
        self.last = ""  # the last line it printed, as it printed it
        self._log = log
        self._clock = clock
        self._secrets = secrets  # what the log must not hold: its env's credentials
        read, write = os.pipe()
        self._inode = os.fstat(read).st_ino
        self.errlog: TextIO = os.fdopen(write, "w", encoding="utf-8")
        self._reader = asyncio.create_task(self._read(read))

    def release(self) -> None:
        """Close our end of the pipe once the server holds its own (it is spawned): the pipe
        then ends when the server and its children have exited, which ``ended`` tells."""
        self.errlog.close()

    @property
    def ended(self) -> asyncio.Task[None]:
        """Done when the pipe has ended (after ``release``: the server has exited, or closed
        its stderr)."""
        return self._reader

    def note(self, text: str) -> None:
        """A line of chatrepl's own about the server, among the server's."""
        self._line(f"[chatrepl] {text}")

    def shown(self) -> str:
        """The last line it printed, as one safe line for the terminal (cut to SHOWN)."""
        line = clean_line(self.last.strip())
        return line if len(line) <= SHOWN else line[:SHOWN - 1] + "…"

    async def close(self, wait: float) -> None:
        """Stop writing ourselves and read what is left, until the server's end of the pipe
        closes or ``wait`` seconds pass (a child of the server may keep it open)."""
        self.errlog.close()
        # a pipe that could not be read (or is still held open) never fails the server's end
        with contextlib.suppress(TimeoutError, OSError, ValueError):
            await asyncio.wait_for(asyncio.shield(self._reader), wait)
        self._reader.cancel()

    def stop_writers(self) -> None:
        """SIGTERM the process groups of the processes whose stderr is this pipe (the server
        and its children), never our own: what the SDK does to a server that does not exit once
        its input closes, without its seconds of grace. Linux only (/proc); elsewhere the SDK's
        own escalation stops them."""
        ours = os.getpgrp()
        for pid in _writers(f"pipe:[{self._inode}]"):
            with contextlib.suppress(OSError):
                group = os.getpgid(pid)
                if group != ours:
                    os.killpg(group, signal.SIGTERM)

    async def _read(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=CHUNK)
        pipe = os.fdopen(fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe)
        pending = b""
        try:
            while chunk := await reader.read(CHUNK):
                *lines, pending = (pending + chunk).split(b"\n")
                if len(pending) >= CHUNK:
                    lines, pending = [*lines, pending], b""
                for line in lines:
                    self._server_line(line)
        finally:
            if pending:
                self._server_line(pending)
            transport.close()

    def _server_line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if text.strip():
            self.last = text
        self._line(clean(scrub(text, self._secrets)))  # `cat mcp.log` runs no escape either

    def _line(self, text: str) -> None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self._clock()))
        with contextlib.suppress(OSError, ValueError):  # a full disk, a log closed at the end
            self._log.write(f"{when} {self.name}: {text}\n")
            self._log.flush()


def _writers(pipe: str) -> list[int]:
    """The processes (not this one) whose stderr is ``pipe`` (as /proc/PID/fd/2 names it)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                with contextlib.suppress(OSError):
                    if os.readlink(Path(entry.path, "fd", "2")) == pipe:
                        found.append(int(entry.name))
    return found

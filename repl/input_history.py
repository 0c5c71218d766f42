"""The input history: the lines typed at the prompt, kept across runs in one owner-only file
(prompt_toolkit's FileHistory format), and the forgetting of the lines an erasure names, in
memory (Up, Ctrl-R) and in the file. The file is never opened through a link in its place."""

from __future__ import annotations

import datetime
import os
from collections.abc import Collection, Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory

from repl import files


class InputHistory(FileHistory):
    def __init__(self, path: Path) -> None:
        files.private_file(path)
        super().__init__(str(path))
        self.path = path

    def load_history_strings(self) -> Iterable[str]:
        """The entries in the file, newest first (as FileHistory reads them, never through a
        link: files.read_file)."""
        try:
            raw = files.read_file(self.path)
        except FileNotFoundError:
            return []
        found = [b"".join(line[1:] for line in entry if line.startswith(b"+"))
                 for entry in entries(raw)]
        return [text.decode("utf-8", "replace")[:-1] for text in reversed(found) if text]

    def store_string(self, string: str) -> None:
        """One entry appended, as FileHistory writes it (through files.open_private)."""
        lines = "".join(f"+{line}\n" for line in string.split("\n"))
        entry = f"\n# {datetime.datetime.now()}\n{lines}".encode("utf-8", "replace")
        fd = files.open_private(self.path, os.O_WRONLY | os.O_APPEND)
        with os.fdopen(fd, "ab") as f:
            f.write(entry)

    def forget(self, texts: Collection[str]) -> int:
        """Remove every entry that typed one of ``texts`` (as sent: a ``//`` line sends
        ``/...``), from this session's memory and from the file; how many the file held."""
        wanted = {t.strip() for t in texts if t.strip()}
        if not wanted:
            return 0
        self._loaded_strings = [s for s in self._loaded_strings if not typed(s, wanted)]
        return self._rewrite(wanted)

    def _rewrite(self, wanted: set[str]) -> int:
        """The file written again (atomically) without the entries typing ``wanted``; the
        others stay byte for byte, with their time stamps."""
        try:
            raw = files.read_file(self.path)
        except FileNotFoundError:
            return 0
        kept, gone = [], 0
        for entry in entries(raw):
            text = b"".join(line[1:] for line in entry if line.startswith(b"+"))
            if typed(text.decode("utf-8", "replace")[:-1], wanted):
                gone += 1
            else:
                kept.append(b"".join(entry))
        if gone:
            files.atomic_write(self.path, b"".join(kept))
        return gone


def typed(entry: str, wanted: set[str]) -> bool:
    """Whether the history ``entry`` is the typing of one of the ``wanted`` texts."""
    line = entry.strip()
    return line in wanted or (line.startswith("//") and line[1:] in wanted)


def entries(raw: bytes) -> list[list[bytes]]:
    """The file's entries, each its lines (the blank line and time stamp before, then the
    ``+`` lines), as prompt_toolkit writes them."""
    found: list[list[bytes]] = []
    current: list[bytes] = []
    for line in raw.splitlines(keepends=True):
        if not line.startswith(b"+") and any(x.startswith(b"+") for x in current):
            found.append(current)
            current = []
        current.append(line)
    if current:
        found.append(current)
    return found

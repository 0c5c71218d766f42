"""Tab completion: command names from the registry, then each command's own argument completer
(which may be async: /model asks the endpoint for its models), and file paths for /attach.

Every entry is one clean line (repl/sanitize.py), shown and inserted alike: a name a server or
a file system chose never puts a control into the menu or into the line being edited."""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import AsyncGenerator, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from repl.commands import COMMANDS
from repl.commands.registry import Command
from repl.context import Context
from repl.sanitize import clean_line


class CommandCompleter(Completer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _split(self, document: Document) -> tuple[str, Command | None, str] | None:
        """(the command word, its command if the argument is being typed, the argument)."""
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return None
        word, space, arg = text[1:].partition(" ")
        if not space:
            return word, None, ""
        matches = [c for n, c in COMMANDS.items() if n.startswith(word.lower())]
        return word, (matches[0] if len(matches) == 1 else None), arg

    def _names(self, word: str) -> Iterable[Completion]:
        for name, cmd in COMMANDS.items():
            if name.startswith(word.lower()):
                yield Completion(f"/{name}", -len(word) - 1, display_meta=cmd.help)

    @staticmethod
    def _values(values: Iterable[str], arg: str) -> Iterable[Completion]:
        for value, shown in map(_entry, values):
            if value.lower().startswith(arg.lower()) or shown.lower().startswith(arg.lower()):
                yield Completion(value, -len(arg), display=shown)

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterable[Completion]:
        split = self._split(document)
        if split is None:
            return
        word, cmd, arg = split
        if cmd is None:
            yield from self._names(word) if not arg else ()
        elif cmd.name in PATH_ARGUMENTS:
            yield from paths(arg)
        elif cmd.name in WORD_ARGUMENTS and cmd.complete is not None:
            values = cmd.complete(self.ctx)
            if not inspect.isawaitable(values):
                yield from shell_words(values, arg)
        elif cmd.complete is not None:
            values = cmd.complete(self.ctx)
            if not inspect.isawaitable(values):
                yield from self._values(values, arg)

    async def get_completions_async(self, document: Document,
                                    complete_event: CompleteEvent
                                    ) -> AsyncGenerator[Completion, None]:
        split = self._split(document)
        cmd = split[1] if split is not None else None
        if split is not None and cmd is not None and cmd.complete is not None \
                and cmd.name not in WORD_ARGUMENTS:
            values = cmd.complete(self.ctx)  # asked once, awaited if it must be
            found = await values if inspect.isawaitable(values) else values
            for completion in self._values(found, split[2]):
                yield completion
            return
        for completion in self.get_completions(document, complete_event):
            yield completion


PATH_ARGUMENTS = {"attach"}  # commands whose arguments are file paths, completed as in a shell
WORD_ARGUMENTS = {"detach"}  # commands taking several of their completer's values, as words
LISTED = 200  # entries of one directory offered at most


def last_word(arg: str) -> str:
    """The word being typed at the end of ``arg``: after its last space outside quotes."""
    start, quote = 0, ""
    for i, c in enumerate(arg):
        if quote:
            quote = "" if c == quote else quote
        elif c in ("'", '"'):
            quote = c
        elif c.isspace():
            start = i + 1
    return arg[start:]


def paths(arg: str) -> Iterable[Completion]:
    """The files and directories the last word of ``arg`` may be (``~`` expanded), quoted when
    they need it, the quote left open after a directory so that Tab can go on into it."""
    raw = last_word(arg)
    quote = raw[:1] if raw[:1] in ("'", '"') else ""
    typed = raw.replace('"', "").replace("'", "")
    folder, slash, prefix = typed.rpartition("/")
    try:
        entries = sorted(os.scandir(os.path.expanduser(folder + slash or ".")),
                         key=lambda e: e.name)
    except OSError:
        return
    hidden = prefix.startswith(".")
    matching = (e for e in entries if e.name.startswith(prefix)
                and (hidden or not e.name.startswith(".")))
    for _, entry in zip(range(LISTED), matching, strict=False):
        is_dir = entry.is_dir()
        name, shown = _entry(entry.name)
        yield Completion(_quoted(folder + slash + name, quote, is_dir), -len(raw),
                         display=shown + ("/" if is_dir else ""))


def shell_words(values: Iterable[str], arg: str) -> Iterable[Completion]:
    """The ``values`` the last word of ``arg`` begins, quoted as /attach's paths are (a name
    with a space is inserted as ``"my photo.dat"``)."""
    raw = last_word(arg)
    quote = raw[:1] if raw[:1] in ("'", '"') else ""
    typed = raw.replace('"', "").replace("'", "")
    for value, shown in map(_entry, values):
        if value.startswith(typed) or shown.startswith(typed):
            yield Completion(_quoted(value, quote, False), -len(raw), display=shown)


def _entry(value: str) -> tuple[str, str]:
    """What Tab inserts for ``value``, and what the menu shows: the name itself, so that the
    command finds it (the prompt shows what could reorder the line: prompts.Visible), and one
    clean line. A name with a line break is inserted as shown: a line break would end it."""
    shown = clean_line(value)
    return (shown if "\n" in value or "\r" in value else value), shown


def _quoted(path: str, quote: str, is_dir: bool) -> str:
    """``path`` as a shell word: in quotes if it was begun with one or needs them."""
    if not quote and not re.search(r"[\s\"'\\]", path):
        return path + ("/" if is_dir else "")
    quote = quote or ('"' if '"' not in path else "'")
    return f"{quote}{path}/" if is_dir else f"{quote}{path}{quote}"

"""Tab completion: command names from the registry, then each command's own argument completer
(which may be async: /model asks the endpoint for its models)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from repl.commands import COMMANDS
from repl.commands.registry import Command
from repl.context import Context


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
        for value in values:
            if value.lower().startswith(arg.lower()):
                yield Completion(value, -len(arg))

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterable[Completion]:
        split = self._split(document)
        if split is None:
            return
        word, cmd, arg = split
        if cmd is None:
            yield from self._names(word) if not arg else ()
        elif cmd.complete is not None:
            values = cmd.complete(self.ctx)
            if not inspect.isawaitable(values):
                yield from self._values(values, arg)

    async def get_completions_async(self, document: Document,
                                    complete_event: CompleteEvent
                                    ) -> AsyncGenerator[Completion, None]:
        split = self._split(document)
        if split is not None and split[1] is not None and split[1].complete is not None:
            values = split[1].complete(self.ctx)
            if inspect.isawaitable(values):
                for completion in self._values(await values, split[2]):
                    yield completion
                return
        for completion in self.get_completions(document, complete_event):
            yield completion

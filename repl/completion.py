"""Tab completion: command names from the registry, then each command's own argument completer."""

from __future__ import annotations

from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from repl.commands import COMMANDS
from repl.context import Context


class CommandCompleter(Completer):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        word, space, arg = text[1:].partition(" ")
        if not space:
            for name, cmd in COMMANDS.items():
                if name.startswith(word.lower()):
                    yield Completion(f"/{name}", -len(text), display_meta=cmd.help)
            return
        matches = [c for n, c in COMMANDS.items() if n.startswith(word.lower())]
        if len(matches) != 1 or matches[0].complete is None:
            return
        for value in matches[0].complete(self.ctx):
            if value.lower().startswith(arg.lower()):
                yield Completion(value, -len(arg))

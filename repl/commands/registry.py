"""The command registry: one handler signature ``async (ctx, arg) -> None``; docstring = help.

A line is a command when it starts with ``/`` followed by a word without another ``/`` (so
``/etc/hosts is...`` is a message); ``//text`` sends ``/text`` as a message. Commands may be
shortened to any unique prefix.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from repl.context import Context
from repl.errors import CommandError as CommandError  # it lived here once: importable from both

Handler = Callable[[Context, str], Awaitable[None]]
Completer = Callable[[Context], list[str] | Awaitable[list[str]]]

_COMMAND = re.compile(r"/([A-Za-z][\w-]*)(?:\s+(.*))?\Z", re.DOTALL)


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    usage: str
    complete: Completer | None

    @property
    def help(self) -> str:
        doc = (self.handler.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


COMMANDS: dict[str, Command] = {}


def command(name: str, *, usage: str = "",
            complete: Completer | None = None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, handler, usage, complete)
        return handler

    return register


def parse(line: str) -> tuple[str, str] | None:
    """(command word, argument) if ``line`` is a command, else None (it is a message)."""
    match = _COMMAND.match(line.strip())
    if not match:
        return None
    return match.group(1), (match.group(2) or "").strip()


def resolve(word: str) -> Command:
    word = word.lower()
    if word in COMMANDS:
        return COMMANDS[word]
    matches = sorted(name for name in COMMANDS if name.startswith(word))
    if len(matches) == 1:
        return COMMANDS[matches[0]]
    if matches:
        raise CommandError(f"/{word} is ambiguous: " + ", ".join(f"/{m}" for m in matches))
    raise CommandError(f"unknown command /{word}; /help lists the commands "
                       f"(start a message with // to send a literal /)")


async def dispatch(ctx: Context, word: str, arg: str) -> None:
    await resolve(word).handler(ctx, arg)

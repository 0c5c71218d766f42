"""/import: bring conversations from files into threads (messages arrays, chatrepl exports,
ChatGPT's conversations.json). A name already taken gets a suffix; nothing is overwritten."""

from __future__ import annotations

import io
import shlex
from pathlib import Path

from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.transfer import import_file

USAGE = 'usage: /import PATH [NAME] (quote a path with spaces: /import "my chats.json")'


def arguments(arg: str) -> tuple[str, str | None]:
    """(path, name) from ``PATH [NAME]``: either may be quoted; a whole argument that is an
    existing file is its path, spaces and all."""
    if Path(arg).expanduser().exists():
        return arg, None
    stream = io.StringIO(arg)
    lexer = shlex.shlex(stream, posix=True)
    lexer.whitespace_split = True
    try:
        path = lexer.get_token()
        rest = " ".join(shlex.split(stream.read()))
    except ValueError as e:
        raise CommandError(f"cannot read the arguments ({e}); {USAGE.removeprefix('usage: ')}"
                           ) from None
    if not path:
        raise CommandError(USAGE)
    return path, rest.strip() or None


@command("import", usage="PATH [NAME]")
async def import_(ctx: Context, arg: str) -> None:
    """Import conversations from PATH (a messages array, a chatrepl export, ChatGPT's export)."""
    if not arg:
        raise CommandError(USAGE)
    path, name = arguments(arg)
    report = import_file(ctx.store, path, name)
    if report.created:
        ctx.ui.info(report.summary())
    for line in report.notes():
        ctx.ui.info(line)
    if len(report.created) == 1:
        ctx.ui.info(f"/switch {report.created[0][0]} opens it")

"""/import: bring conversations from files into threads (messages arrays, chatrepl exports,
ChatGPT's conversations.json). A name already taken gets a suffix; nothing is overwritten."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from repl.commands.registry import CommandError, command
from repl.context import Context
from repl.errors import ChatreplError
from repl.importers import ImportedThread, decode, parse
from repl.thread import MAX_NAME, validate_name


def import_file(ctx: Context, path: str, name: str | None = None) -> list[tuple[str, int]]:
    """Import ``path``; returns (thread name, messages) for every thread created."""
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror}") from None
    threads = parse(decode(data, filename=file.name), filename=file.name)
    if name and len(threads) > 1:
        raise CommandError(f"{file.name} holds {len(threads)} conversations; a name can only be "
                           "given to one (leave it out to name them from their titles)")
    done = []
    for thread in threads:
        wanted = validate_name(name) if name else _name_from(thread, file)
        target = _free(ctx, wanted)
        ctx.store.create(target, model=thread.model, system=thread.system)
        ctx.store.append_many(target, thread.messages)
        done.append((target, len(thread.messages)))
    return done


def _name_from(thread: ImportedThread, file: Path) -> str:
    """A valid thread name from a title or the file name."""
    raw = thread.name or file.stem
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in raw)
    text = re.sub(r"[/\\\\]+", "-", text).strip().lstrip(".-").strip()[:MAX_NAME].strip()
    try:
        return validate_name(text or "imported")
    except ChatreplError:
        return "imported"


def _free(ctx: Context, wanted: str) -> str:
    name, n = wanted, 1
    while ctx.store.get(name):
        n += 1
        suffix = f"-{n}"
        name = wanted[: MAX_NAME - len(suffix)] + suffix
    return name


@command("import", usage="PATH [NAME]")
async def import_(ctx: Context, arg: str) -> None:
    """Import conversations from PATH (a messages array, a chatrepl export, ChatGPT's export)."""
    if not arg:
        raise CommandError("usage: /import PATH [NAME]")
    path, _, name = arg.partition(" ") if not Path(arg).expanduser().exists() else (arg, "", "")
    done = import_file(ctx, path, name.strip() or None)
    total = sum(count for _, count in done)
    names = ", ".join(repr(n) for n, _ in done[:5]) + (" …" if len(done) > 5 else "")
    ctx.ui.info(f"imported {len(done)} threads ({total} messages): {names}")
    if len(done) == 1:
        ctx.ui.info(f"/switch {done[0][0]} opens it")

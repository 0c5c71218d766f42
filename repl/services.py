"""What a session does outside any one command, for the REPL, the command line and the
commands alike: show the thread just opened, list threads with their models, apply a preset,
stage files for the next message, start the MCP servers. Below the commands (tests/test_layers.py):
the shell never reaches into a command's module for them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from repl import attachments
from repl.attachments import AttachError
from repl.context import Context
from repl.errors import CommandError
from repl.importers import counted
from repl.parts import Shown
from repl.thread import Message, ThreadInfo, turn_starts
from repl.tree import Tree


def last_turns(messages: list[Message], turns: int) -> list[Message]:
    """The tail of ``messages`` that holds the last ``turns`` user messages and their answers."""
    if turns <= 0:
        return []
    starts = turn_starts(messages)
    if len(starts) <= turns:
        return messages
    return messages[starts[-turns]:]


def show_opened(ctx: Context, created: bool) -> None:
    """Tell the user where they are: a new thread, or the last few turns of an old one."""
    info = ctx.thread
    if created:
        ctx.ui.info(f"new thread {info.name!r} · model {ctx.model}")
        return
    turns = ctx.config.show_turns
    tail = last_turns(ctx.store.messages(info.name, last=turns * 4), turns)
    hidden = info.message_count - len(tail)
    earlier = f", {hidden} earlier (/history N)" if hidden > 0 else ""
    count = info.message_count
    ctx.ui.info(f"thread {info.name!r} · {count} messages{earlier} · model {ctx.model}")
    if tail:
        ctx.ui.console.print()
        ctx.ui.messages(tail, marks=marks(ctx, tail))


def marks(ctx: Context, shown: list[Message]) -> dict[int, str]:
    """The version marks (``‹2/3›``) of the ``shown`` messages (a tail of the conversation)
    that have other versions. Their versions all follow the visible message before the first
    of them: only the messages from there on are read, not a long thread whole (opening one
    shows its tail)."""
    info = ctx.thread
    if not shown or info.message_count == 0:
        return {}
    first, count = min(m.id or 0 for m in shown), 4 * len(shown) + 8
    while True:
        messages = ctx.store.messages(info.name, hidden=True, last=count)
        start = messages[0] if messages else None
        if len(messages) < count or (start is not None and start.hidden is None
                                      and (start.id or 0) < first):
            return Tree.of(messages).marks(shown)
        count *= 4


def listed(ctx: Context, threads: list[ThreadInfo]) -> list[ThreadInfo]:
    """The threads with their models shown as ENDPOINT:MODEL (when several are set up)."""
    return [replace(info, model=ctx.shown(info)) for info in threads]


def apply_preset(ctx: Context, name: str, *, system: str | None = None,
                 model: str | None = None) -> None:
    """Apply preset ``name`` to the current thread: its system prompt (unless ``system``, -s,
    is given) and model (unless ``model``, -m, is: it is the run's) now, its settings from now
    on (under the thread's own)."""
    preset = ctx.config.presets.get(name)
    if preset is None:
        known = ", ".join(ctx.config.presets) or "none in config.toml"
        raise CommandError(f"no preset named {name!r} (presets: {known})")
    info = ctx.thread
    if system is None and preset.system is not None:
        ctx.store.update(info.name, system=preset.system)
    if preset.model and model is None:
        ctx.remember_model(info, preset.model)
        ctx.model_override = None  # as after /model: the preset's model from now on
    ctx.save_settings(replace(ctx.thread.settings, preset=preset.name))
    run = f" (-m {model} for this run)" if model and preset.model else ""
    ctx.ui.info(f"preset {preset.name!r} for {info.name!r}: {preset.describe()}{run}")


def stage(ctx: Context, found: list[Path]) -> None:
    """Stage ``found`` for the next message, each checked now (a file that cannot be attached
    is said and left out): what /attach and -a do. Each is shown by the name it will be sent
    by; a file staged before whose name that changes (a second notes.txt) is said too."""
    before = dict(zip(ctx.staged, attachments.labels(ctx.staged), strict=True))
    fresh: list[tuple[Path, Shown]] = []
    for path in found:
        if path in ctx.staged:
            ctx.ui.info(f"{before.get(path, path.name)} is already attached")
            continue
        try:
            shown = attachments.examine(path, ctx.config.attach)
        except AttachError as e:
            ctx.ui.error(f"{e}; not attached")
            continue
        ctx.staged.append(path)
        fresh.append((path, shown))
    now = dict(zip(ctx.staged, attachments.labels(ctx.staged), strict=True))
    ctx.ui.attached([replace(shown, name=now[path]) for path, shown in fresh])
    for path, old in before.items():
        if now[path] != old:
            ctx.ui.info(f"{old} (attached before) is now {now[path]}, to tell it apart")
    if ctx.staged:
        ctx.ui.info(f"{counted(len(ctx.staged), 'file')} attached to your next message "
                    "(read when it is sent; /detach drops them)")


def start_tools(ctx: Context) -> None:
    """Start the configured servers in the background: the prompt never waits for them; a
    server that fails or exits is one line, shown above the prompt."""
    if ctx.tools is None:
        return
    ui = ctx.ui

    def say(line: str) -> None:
        from prompt_toolkit.application import run_in_terminal

        run_in_terminal(lambda: ui.warn(line))  # the prompt is drawn again under it

    ctx.tools.say = say
    ctx.tools.start()

"""Commands for the current thread's request settings and presets: /set and /preset."""

from __future__ import annotations

from dataclasses import replace

from repl.commands.registry import CommandError, command
from repl.compaction import DEFAULT as COMPACT_DEFAULT
from repl.config import SETTINGS, parse_setting
from repl.context import Context
from repl.services import apply_preset

UNSET = "-"
SERVER_DEFAULT = "the server's default"
DEFAULTS = {"compact_tokens": COMPACT_DEFAULT}  # chatrepl's own, not the server's


def setting_names(ctx: Context) -> list[str]:
    return list(SETTINGS)


@command("set", usage="[KEY VALUE | KEY -]", complete=setting_names)
async def set_(ctx: Context, arg: str) -> None:
    """Show the request settings, set KEY to VALUE for this thread, or unset it with -."""
    if not arg:
        sources = ctx.setting_sources(ctx.thread)
        ctx.ui.rows([(key, f"{sources[key][0]}  ({sources[key][1]})" if key in sources else
                      f"-  ({DEFAULTS.get(key, SERVER_DEFAULT)})")
                     for key in SETTINGS])
        return
    key, _, value = arg.partition(" ")
    key, value = key.lower(), value.strip()
    if key not in SETTINGS:
        raise CommandError(f"unknown setting {key!r}; /set KEY VALUE with KEY one of "
                           f"{', '.join(SETTINGS)}")
    if not value:
        raise CommandError(f"usage: /set {key} VALUE ({SETTINGS[key]}), or /set {key} - unsets it")
    if value == UNSET:
        ctx.save_setting(key, None)
        after = ctx.setting_sources(ctx.thread).get(key)
        ctx.ui.info(f"{key} unset for {ctx.thread.name!r}" +
                    (f"; {after[0]} from the {after[1]} applies" if after else ""))
        return
    ctx.save_setting(key, parse_setting(key, value))
    ctx.ui.info(f"{key} = {ctx.setting(key)} for {ctx.thread.name!r}")


def preset_names(ctx: Context) -> list[str]:
    return [*ctx.config.presets, UNSET]



@command("preset", usage="[NAME | -]", complete=preset_names)
async def preset(ctx: Context, arg: str) -> None:
    """List the presets, apply preset NAME to this thread, or stop using one with -."""
    if arg == UNSET:
        ctx.save_settings(replace(ctx.thread.settings, preset=None))
        ctx.ui.info(f"no preset for {ctx.thread.name!r} (its system prompt and model stay)")
    elif arg:
        apply_preset(ctx, arg)
    elif not ctx.config.presets:
        ctx.ui.info("no presets: add [presets.NAME] tables to config.toml")
    else:
        current = ctx.thread.settings.preset
        ctx.ui.rows([(("* " if name == current else "  ") + name, p.describe())
                     for name, p in ctx.config.presets.items()])

"""The command line: parse arguments, build the real outside world, run one mode, give a status."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from repl import __version__
from repl.errors import ChatreplError

if TYPE_CHECKING:
    from collections.abc import Callable

    from repl.config import Config
    from repl.context import Context
    from repl.input_history import InputHistory
    from repl.store.buffered import BufferedStore
    from repl.thread import Hit

EXAMPLES = """\
examples:
  chatrepl                          open the thread used last and talk
  chatrepl -t work                  open (or create) the thread "work"
  chatrepl -t work -m gpt-4o "summarise our plan"      one question, answer on stdout
  git diff | chatrepl -t review "review this diff"     stdin is added to the prompt
  chatrepl -a cat.png "what is this?"                   a file attached (-a again for more)
  chatrepl -m ollama:llama3.2 -o temperature=0.2 "hi"  an [endpoints.ollama] model, a setting
  chatrepl -p terse -t notes        apply [presets.terse] to the thread "notes"
  chatrepl --list                   the threads
  chatrepl --search "error budget"  every message that says so, one hit a line
  chatrepl --import conversations.json   ChatGPT's export: one thread per conversation
  chatrepl -t work --export work.md (.html: a page to read; .json: the OpenAI messages
                                    array; - for stdout)

environment: OPENAI_API_KEY, OPENAI_BASE_URL (any OpenAI-compatible server), CHATREPL_MODEL,
NO_COLOR. Inside the REPL, /help lists the commands.
"""


def parser() -> argparse.ArgumentParser:
    from repl.export import FORMATS

    p = argparse.ArgumentParser(
        prog="chatrepl", description="Chat with OpenAI-compatible models in named threads that "
        "are saved after every turn.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompt", nargs="*", help="send this one message, print the answer and exit")
    p.add_argument("-t", "--thread", metavar="NAME", help="thread to open (created if new)")
    p.add_argument("-m", "--model", metavar="MODEL", help="model for this run (remembered by "
                   "the thread)")
    p.add_argument("-o", "--option", metavar="KEY=VALUE", action="append", default=[],
                   help="a request setting for this run (temperature, top_p, max_tokens, seed, "
                   "effort); repeatable")
    p.add_argument("-p", "--preset", metavar="NAME", help="apply preset NAME ([presets.NAME] "
                   "in config.toml) to the thread")
    p.add_argument("-s", "--system", metavar="TEXT", help="set the thread's system prompt")
    p.add_argument("-a", "--attach", metavar="PATH", action="append", default=[],
                   help="attach a file (image, PDF, text) to the prompt; repeatable")
    p.add_argument("--store", metavar="URL", help="where threads live: sqlite:///file.db, "
                   "json:///dir or redis://host:port/db (default: SQLite in the data dir)")
    p.add_argument("--copy-store", nargs=2, metavar=("FROM", "TO"), help="copy every thread "
                   "from one store URL to another (again is harmless) and exit")
    p.add_argument("--list", action="store_true", help="list the threads and exit")
    p.add_argument("--search", metavar="TEXT", help="search every thread; one hit a line")
    p.add_argument("--import", dest="import_path", metavar="PATH", help="import conversations "
                   "(messages array, chatrepl export, ChatGPT conversations.json); -t names it")
    p.add_argument("--export", metavar="PATH", help="write the thread to PATH (- for stdout)")
    p.add_argument("--format", choices=FORMATS, help="export format (default: from the "
                   "extension, else md)")
    p.add_argument("--force", action="store_true", help="with --export: overwrite the file if "
                   "it exists")
    p.add_argument("--config", action="store_true", help="print every setting of config.toml, "
                   "documented (its path goes to stderr) and exit")
    p.add_argument("--version", action="version", version=f"chatrepl {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.umask(0o077)  # everything chatrepl writes (threads, history, logs, exports) is private
    try:
        return _run(args)
    except ChatreplError as e:
        from repl.redaction import scrub
        from repl.sanitize import clean_line

        print(f"chatrepl: {clean_line(scrub(e.line(repl=False)))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM or SIGHUP during a one-shot answer
        return 143
    except BrokenPipeError:  # the reader of our output went away (| head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:
        from repl.render.terminal import terminal_gone

        if not terminal_gone(e):
            raise
        return 0  # the terminal was closed; everything that arrived is saved


def _run(args: argparse.Namespace) -> int:
    from repl import config as config_mod
    from repl.context import Context, World
    from repl.endpoints import Endpoints
    from repl.render import UI
    from repl.store import open_store

    if args.config:
        return _print_config(config_mod.config_path())
    config = config_mod.load(model=args.model, store=args.store)
    options = _options(args.option)
    if args.preset and args.preset not in config.presets:
        known = ", ".join(config.presets) or "none in config.toml"
        raise ChatreplError(f"no preset named {args.preset!r} (presets: {known})")
    if args.copy_store:
        return _copy_store(*args.copy_store, redis_password=config.redis_password)
    store = open_store(config.store, config.data_dir, redis_password=config.redis_password)
    try:
        from rich.console import Console

        err = Console(stderr=True, highlight=False)
        ui = UI(Console(highlight=False, emoji=False), err=err, code_theme=config.code_theme,
                math=config.math, term=config.term)
        world = World(store=store, ui=ui, config=config,
                      endpoints=Endpoints(config, state=store), clock=time.time)
        ctx = Context(world=world, run_settings=options)
        if store.recovered:
            ui.warn(store.recovered.describe())
        if args.list:
            from repl.services import listed

            ui.threads(listed(ctx, store.list_threads()),
                       current=store.get_state("last_thread"), default_model=config.model)
            return 0
        if args.search:
            hits = store.search(args.search, limit=50)
            _print_hits(hits)
            return 0 if hits else 1  # like grep
        if args.import_path:
            return _import(store, args.import_path, args.thread)
        if args.export:
            return _export(store, ctx.initial_thread(args.thread), args)
        prompt = _one_shot_prompt(args.prompt)
        if prompt is not None:  # stdout is for the answer only; no one to ask: ctx's defaults
            ui = UI(ui.console, err=err, notes=err, code_theme=config.code_theme,
                    math=config.math, term=config.term)
            return asyncio.run(_one_shot(replace(ctx, world=replace(world, ui=ui)), args,
                                         prompt))
        return asyncio.run(_repl(ctx, args, config))
    finally:
        _close(store)


def _print_config(path: Path) -> int:
    """The documented settings on stdout (``> config.toml`` starts one); where they go on stderr."""
    from repl.config import CONFIG_TEMPLATE

    where = "it exists" if path.exists() else "not there yet"
    print(f"chatrepl: the settings file is {path} ({where})", file=sys.stderr)
    sys.stdout.write(CONFIG_TEMPLATE)
    return 0


def _options(items: list[str]) -> dict[str, object]:
    """-o KEY=VALUE's settings, each checked as /set checks it."""
    from repl.config import parse_setting

    options: dict[str, object] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ChatreplError(f"-o takes KEY=VALUE, not {item!r} (e.g. -o temperature=0.2)")
        options[key.strip().lower()] = parse_setting(key.strip().lower(), value)
    return options


def _close(store: BufferedStore) -> None:
    """Close the store; what it still could not write goes to a file, never silently away.
    What it went on without (a damaged thread file a listing set aside) is said first."""
    from repl.sanitize import clean_line

    for line in store.damage():
        print(f"chatrepl: {clean_line(line)}", file=sys.stderr)
    path = store.rescue()
    if path:
        print(f"chatrepl: {len(store.pending)} messages could not be saved to the thread store; "
              f"they are in {path}", file=sys.stderr)
    elif store.pending:
        print(f"chatrepl: {len(store.pending)} messages could not be saved anywhere",
              file=sys.stderr)
    store.close()


def _copy_store(source_url: str, target_url: str, *, redis_password: str | None) -> int:
    from repl.store import open_backend
    from repl.store.copy import copy_store

    source = open_backend(source_url, redis_password=redis_password)
    target = open_backend(target_url, redis_password=redis_password)
    try:
        report = copy_store(source, target)
    finally:
        source.close()
        target.close()
    print(report.describe(), file=sys.stderr)
    return 1 if report.conflicts else 0


def _import(store: BufferedStore, path: str, name: str | None) -> int:
    from repl.transfer import import_file

    report = import_file(store, path, name)
    for line in report.per_thread() + report.notes():
        print(line, file=sys.stderr)
    return 0


def _export(store: BufferedStore, name: str, args: argparse.Namespace) -> int:
    from repl.errors import ExportExistsError
    from repl.export import format_for
    from repl.importers import counted
    from repl.transfer import export_text, export_thread

    if args.export == "-":
        text = export_text(store, name, format_for("-", args.format))[0]
        if sys.stdout.isatty():  # made safe as on screen; into a pipe or a file it stays exact
            from repl.sanitize import clean

            text = clean(text)
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        count = export_thread(store, name, args.export, args.format, overwrite=args.force)
    except ExportExistsError as e:
        raise ChatreplError(f"{e}; --force overwrites it") from None
    print(f"exported {name!r} ({counted(count, 'message')}) to {args.export}", file=sys.stderr)
    return 0


def _print_hits(hits: list[Hit]) -> None:
    """One hit a line: thread, turn, role and the snippet with the matches in [brackets]."""
    from repl.sanitize import clean_line
    from repl.thread import HIGHLIGHT

    for hit in hits:
        snippet = clean_line(hit.snippet.replace(HIGHLIGHT[0], "[").replace(HIGHLIGHT[1], "]"))
        print(f"{clean_line(hit.thread)}\tturn {hit.turn}\t{hit.role}\t{snippet}")


def _history(ctx: Context, config: Config,
             make: Callable[[str], InputHistory]) -> InputHistory | None:
    """The input history file, in the data dir made (0700) whatever the store; where it cannot
    be written (a read-only disk), None (a history of this run only), saying so."""
    from repl import files

    try:
        files.private_dir(config.data_dir)
        return make(str(config.history_path))
    except OSError as e:
        ctx.ui.warn(f"the input history is kept for this run only: cannot write "
                    f"{config.history_path} ({e.strerror or e})")
        return None


def _one_shot_prompt(words: list[str]) -> str | None:
    """The one-shot prompt: the positional words, then standard input when it is not a terminal."""
    text = " ".join(words)
    if not sys.stdin.isatty():
        data = sys.stdin.buffer.read()
        if b"\0" in data:
            raise ChatreplError("standard input is binary data, not text")
        try:
            piped = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ChatreplError("standard input is not UTF-8 text") from None
        text = f"{text}\n\n{piped}" if text and piped.strip() else text or piped
        if not text.strip():
            raise ChatreplError("nothing to send: standard input was empty")
    return text if text.strip() else None


def _attached(paths: list[str]) -> list[Path]:
    """-a's paths, made absolute as /attach makes them (checked at start, read when sent)."""
    return list(dict.fromkeys(Path(path).expanduser().absolute() for path in paths))


async def _one_shot(ctx: Context, args: argparse.Namespace, prompt: str) -> int:
    from repl import attachments, chat
    from repl.signals import STOP_SIGNALS, handling

    staged = _attached(args.attach)
    attachments.check_all(staged, ctx.config.attach)  # before a thread is made or chosen
    ctx.open(ctx.initial_thread(args.thread), system=args.system)
    if args.preset:
        from repl.services import apply_preset

        apply_preset(ctx, args.preset, system=args.system, model=args.model or None)
    ctx.staged.extend(staged)
    task = asyncio.current_task()
    assert task is not None
    try:
        with handling(task.cancel, *STOP_SIGNALS):  # the partial answer is saved, then we leave
            await chat.send(ctx, prompt)
    finally:
        await ctx.endpoints.aclose()
    return 0


async def _repl(ctx: Context, args: argparse.Namespace, config: Config) -> int:
    """The REPL on the real terminal: its prompts, the user's editor, the input history."""
    from prompt_toolkit.input import create_input
    from prompt_toolkit.output import create_output

    from repl.app import App, file_history
    from repl.prompts import ExternalEditor, LineEditor, YesNo
    from repl.services import start_tools
    from repl.tools.toolbox import Toolbox

    input, output = create_input(), create_output()
    ask = YesNo(input=input, output=output)
    edit = LineEditor(input=input, output=output, mode=config.editing_mode)
    toolbox = Toolbox(config.mcp, timeout=config.tool_timeout, log_path=config.mcp_log_path)
    history = _history(ctx, config, file_history)
    ctx = replace(ctx, world=replace(ctx.world, ask=ask, choose=ask.choose, edit=edit,
                                     external_edit=ExternalEditor(config.editor),
                                     interactive=True, tools=toolbox, typed=history))
    app = App(ctx, input=input, output=output, history=history)
    start_tools(ctx)  # in the background
    try:
        await app.run(args.thread, system=args.system, preset=args.preset,
                      attach=_attached(args.attach))  # for the first message
    finally:
        await toolbox.aclose()
    return 0

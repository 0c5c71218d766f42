"""Slash commands: the registry and the commands, grouped by topic."""

from repl.commands import threads  # noqa: I001  (registration order is the /help order)
from repl.commands import versions
from repl.commands import shape
from repl.commands import edits
from repl.commands import turns
from repl.commands import session
from repl.commands import imports
from repl.commands import erase
from repl.commands import attach
from repl.commands import paste
from repl.commands import reasoning
from repl.commands import tools
from repl.commands import settings
from repl.commands.registry import COMMANDS, CommandError, dispatch, parse, resolve

__all__ = ["COMMANDS", "CommandError", "attach", "dispatch", "edits", "erase", "imports", "parse",
           "paste", "reasoning", "reference", "resolve", "session", "settings", "shape", "threads",
           "tools", "turns", "versions"]


def reference() -> str:
    """docs/commands.md: every command, its arguments and its help (the first line of its
    docstring, as /help prints it), in /help's order; a test keeps the file the same."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [f"| `/{cell((c.name + ' ' + c.usage).strip())}` | {cell(c.help)} |"
            for c in COMMANDS.values()]
    return ("# Commands\n\nGenerated from the command registry by `python -m repl.commands > "
            "docs/commands.md`;\nwhat each does in detail is in [usage](usage.md).\n\n"
            "| command | what it does |\n| --- | --- |\n" + "\n".join(rows) + "\n")

"""Slash commands: the registry and the commands, grouped by topic."""

from repl.commands import threads  # noqa: I001  (registration order is the /help order)
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

__all__ = ["COMMANDS", "CommandError", "attach", "dispatch", "erase", "imports", "parse", "paste",
           "reasoning", "resolve", "session", "settings", "threads", "tools", "turns"]

"""``python -m repl.commands``: the command reference, docs/commands.md, from the registry."""

from repl.commands import reference

print(reference(), end="")

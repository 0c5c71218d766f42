"""Everything that writes to the terminal: the UI facade and the streaming markdown renderer."""

from repl.render.ui import UI

__all__ = ["UI"]

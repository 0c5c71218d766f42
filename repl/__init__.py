"""chatrepl: a terminal chat client for OpenAI-compatible endpoints whose threads are never lost."""

__version__ = "0.1.0"

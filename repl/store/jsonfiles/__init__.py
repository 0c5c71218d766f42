"""The JSON-files store (``json://``): names.py says which file holds what, codec.py how a
thread is written, disk.py the locks and atomic I/O, and store.py the operations."""

from __future__ import annotations

from repl.files import TMP_PREFIX, TMP_SUFFIX
from repl.store.jsonfiles.names import file_name
from repl.store.jsonfiles.store import JSONStore

__all__ = ["TMP_PREFIX", "TMP_SUFFIX", "JSONStore", "file_name"]

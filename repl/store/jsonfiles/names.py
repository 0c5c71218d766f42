"""The JSON-files store's layout: which file holds which thread, and the names of the others."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

# The directory (0700; every file in it 0600):
#
#   work.json            a live thread, as JSON Lines (lines.py): a header line {"format": 3,
#                        "rev", "name", "model", "system", "settings", "created_at",
#                        "updated_at", "deleted_at"}, then one line per message: {"role",
#                        "content" (a string, or the list of parts with their "text" beside),
#                        then only the fields that are set: "fields" (the API message's other
#                        keys), "reasoning", "created_at", "model", "status", "usage", "id",
#                        "hidden", "hidden_at", "covers", "uid", "meta", "parent" (the id of
#                        the message it follows: repl/tree.py)}; ids count up from 1 in
#                        each thread; a uid is unique in its thread (a message sent twice is kept
#                        once). A save appends a line; any other change rewrites the file whole.
#   work.json.torn-…     the unfinished last line of a write a crash cut short, set aside (kept)
#   state.json           {"last_thread": ...}: get_state / set_state
#   blobs/<sha256>       an attachment's bytes, once, whatever the number of messages using it
#   trash/               deleted threads, "<file stem>.deleted-<time>.json", with deleted_at set
#   .lock                the store lock: shared while a thread is written, exclusive while names,
#                        the trash or the state change, and while stray files are tidied at open
#   .work.json.lock      the thread's lock, taken (exclusively) under the shared store lock
#   .tmp-*.tmp           a file being written; one left by a crash is removed at the next open
#   .erasing             an erase or purge under way: one cut short is finished at the next open
#   work.json.damaged-…  a file that was not a valid thread, moved aside and kept
#
# File names: see file_name(). The thread's name is the "name" inside its file; a file whose
# name does not lead back to it (a copy, a sync tool's conflicted copy) is left alone, unlisted.

# the "format" of the files this code writes; a newer one is refused, never rewritten.
# 2: messages may hold parts, fields and reasoning (a file of format 1 reads as it is)
# 3: JSON Lines (files of formats 1 and 2 are one JSON document: rewritten as lines at open)
FORMAT = 3
STATE = "state.json"
TRASH = "trash"
BLOBS = "blobs"
ERASING = ".erasing"
LOCK = ".lock"
MAX_STEM = 150  # bytes of a name kept readable in its file name (file names stop at 255)
HASH_LENGTH = 12
LOCK_TIMEOUT = 10.0  # seconds to wait for another process's write before StoreBusyError
TIDY_WAIT = 1.0  # at open, how long stray files may wait for writers to finish

RESERVED = {"state"}  # stems that other files of the store use


def escape(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode("utf-8", "surrogatepass"))


def case_safe(name: str) -> bool:
    """Whether ``name`` alone owns its spelling on a case- or normalization-insensitive file
    system (macOS, Windows): it is in NFC and already case-folded, both ways of folding."""
    return (unicodedata.is_normalized("NFC", name) and name.casefold() == name
            and name.upper().casefold() == name)


def file_name(name: str) -> str:
    """The file name of thread ``name``: never a path separator, never hidden, '.' or '..'.

    Letters, digits, space and ``-_.`` stay as they are; every other character is
    percent-encoded (UTF-8, upper-case hex), as are a leading '.' or '-' and names the store
    uses itself. Names that another name could match on a case-insensitive file system (any
    with an upper-case letter, or not in NFC) and names too long for a file name get '~' and a
    hash of the exact name: 'Work' is 'Work~<hash>.json', never 'work.json', so 'Work' and
    'work' are two files everywhere. A literal '~' is always encoded, so the two never meet."""
    parts = [c if c.isalnum() or c in " -_." else escape(c) for c in name]
    if parts and parts[0] in (".", "-"):
        parts[0] = escape(parts[0])
    if "".join(parts) in RESERVED:
        parts[0] = escape(parts[0])
    stem, size = "", 0
    for part in parts:
        size += len(part.encode("utf-8"))
        if size > MAX_STEM:
            break
        stem += part
    if not name or size > MAX_STEM or not case_safe(name):
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        stem += "~" + digest[:HASH_LENGTH]
    return stem + ".json"


def lock_file(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")

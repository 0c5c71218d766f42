"""The JSON-files store: one pretty-printed JSON file per thread, to read, grep, back up and sync.

Every write replaces a whole file atomically (temporary file, fsync, rename, fsync of the
directory) under file locks, so two processes on one thread lose nothing and a crash never leaves
half a file. A damaged file is moved aside and kept, never replaced.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from repl.errors import StoreBusyError, StoreError, ThreadError
from repl.store import words
from repl.thread import Hit, Message, ThreadInfo, Usage

# The directory (0700; every file in it 0600):
#
#   work.json            a live thread: {"name", "model", "system", "created_at", "updated_at",
#                        "deleted_at", "format", "messages": [{"role", "content", then only the
#                        fields that are set: "created_at", "model", "status", "usage", "id",
#                        "hidden", "hidden_at", "covers"}]}; ids count up from 1 in each thread
#   state.json           {"last_thread": ...}: get_state / set_state
#   trash/               deleted threads, "<file stem>.deleted-<time>.json", with deleted_at set
#   .lock                the store lock: shared while a thread is written, exclusive while names,
#                        the trash or the state change, and while stray files are tidied at open
#   .work.json.lock      the thread's lock, taken (exclusively) under the shared store lock
#   .tmp-*.tmp           a file being written; one left by a crash is removed at the next open
#   work.json.damaged-…  a file that was not a valid thread, moved aside and kept
#
# File names: see file_name(). The thread's name is the "name" inside its file; a file whose
# name does not lead back to it (a copy, a sync tool's conflicted copy) is left alone, unlisted.

FORMAT = 1  # the "format" of the files this code writes; a newer one is refused, never rewritten
STATE = "state.json"
TRASH = "trash"
LOCK = ".lock"
TMP_PREFIX, TMP_SUFFIX = ".tmp-", ".tmp"
MAX_STEM = 150  # bytes of a name kept readable in its file name (file names stop at 255)
HASH_LENGTH = 12
LOCK_TIMEOUT = 10.0  # seconds to wait for another process's write before StoreBusyError
TIDY_WAIT = 1.0  # at open, how long stray files may wait for writers to finish

_RESERVED = {"state"}  # stems that other files of the store use


# -- file names -----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode("utf-8", "surrogatepass"))


def _case_safe(name: str) -> bool:
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
    parts = [c if c.isalnum() or c in " -_." else _escape(c) for c in name]
    if parts and parts[0] in (".", "-"):
        parts[0] = _escape(parts[0])
    if "".join(parts) in _RESERVED:
        parts[0] = _escape(parts[0])
    stem, size = "", 0
    for part in parts:
        size += len(part.encode("utf-8"))
        if size > MAX_STEM:
            break
        stem += part
    if not name or size > MAX_STEM or not _case_safe(name):
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        stem += "~" + digest[:HASH_LENGTH]
    return stem + ".json"


def _lock_file(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


# -- messages as JSON objects ---------------------------------------------------------------------


def _encode(m: Message, hidden_at: float | None) -> dict[str, Any]:
    """role and content first, as in an OpenAI messages array; then only what is set."""
    d: dict[str, Any] = {"role": m.role, "content": m.content, "created_at": m.created_at}
    if m.model is not None:
        d["model"] = m.model
    if m.status is not None:
        d["status"] = m.status
    usage = {"prompt_tokens": m.usage.prompt_tokens,
             "completion_tokens": m.usage.completion_tokens}
    if any(v is not None for v in usage.values()):
        d["usage"] = {k: v for k, v in usage.items() if v is not None}
    d["id"] = m.id
    if m.hidden is not None:
        d["hidden"] = m.hidden
        d["hidden_at"] = hidden_at
    if m.covers is not None:
        d["covers"] = m.covers
    return d


_KNOWN = {"role", "content", "created_at", "model", "status", "usage", "id", "hidden",
          "hidden_at", "covers"}


def _decode(d: dict[str, Any]) -> Message:
    usage = d.get("usage") or {}
    return Message(d["role"], d["content"], d.get("created_at", 0.0), d.get("model"),
                   d.get("status"), Usage(usage.get("prompt_tokens"),
                                          usage.get("completion_tokens")),
                   d["id"], d.get("hidden"), d.get("covers"))


def _check(doc: Any) -> dict[str, Any]:
    """``doc``, if it is a thread this store can read (unknown keys are kept); else ValueError."""
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise ValueError("not a thread: no name")
    if not isinstance(doc.get("messages"), list):
        raise ValueError("not a thread: no messages array")
    for key in ("model", "system"):
        if not isinstance(doc.get(key), str | None):
            raise ValueError(f"{key} is not a string")
    for i, m in enumerate(doc["messages"]):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str) and type(m.get("id")) is int
                and isinstance(m.get("usage", {}), dict)):
            raise ValueError(f"message {i + 1} needs a string role and content and an integer id")
    return doc


def _info(doc: dict[str, Any], *, deleted: bool = False) -> ThreadInfo:
    count = sum(1 for m in doc["messages"] if m.get("hidden") is None)
    return ThreadInfo(doc["name"], doc.get("model"), doc.get("system"),
                      doc.get("created_at", 0.0), doc.get("updated_at", 0.0), count,
                      doc.get("deleted_at") if deleted else None)


def _dumps(doc: dict[str, Any]) -> bytes:
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (from a \ud800 escape): \u escapes keep it
        return (json.dumps(doc, indent=2) + "\n").encode("ascii")


@contextmanager
def _io(path: Path, doing: str) -> Iterator[None]:
    """OSError (a full disk, a read-only or forbidden directory) as StoreError naming the file."""
    try:
        yield
    except OSError as e:
        raise StoreError(f"cannot {doing} {path}: {e.strerror or e}") from None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # a file system that cannot sync directories
            raise
    finally:
        os.close(fd)


# -- the store ------------------------------------------------------------------------------------


class JSONStore:
    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.dir = directory
        self._clock = clock
        self._store_lock = directory / LOCK
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if directory.stat().st_mode & 0o777 != 0o700:
                os.chmod(directory, 0o700)
        except OSError as e:
            raise StoreError(f"cannot open the thread store {directory}: "
                             f"{e.strerror or e}") from None
        self._tidy()

    def _path(self, name: str) -> Path:
        return self.dir / file_name(name)

    # -- files and locks --------------------------------------------------------------------------

    @contextmanager
    def _lock(self, path: Path, how: int, *, timeout: float | None = None) -> Iterator[None]:
        """Hold the flock ``how`` on ``path`` (a fresh descriptor each time, so two stores or two
        threads of one process exclude each other too); StoreBusyError after ``timeout``."""
        with _io(path, "lock"):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with _io(path, "lock"):
                if os.fstat(fd).st_mode & 0o777 != 0o600:
                    os.fchmod(fd, 0o600)
            with _io(path, "lock"):
                self._acquire(fd, how, LOCK_TIMEOUT if timeout is None else timeout, path)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _acquire(self, fd: int, how: int, timeout: float, path: Path) -> None:
        deadline, pause = time.monotonic() + timeout, 0.0002
        while True:
            try:
                fcntl.flock(fd, how | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the thread store {self.dir} is busy: another chatrepl has held "
                        f"{path.name} for {timeout:g} s") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.005)

    @contextmanager
    def _names_locked(self) -> Iterator[None]:
        """For what changes names, the trash or the state: nobody else writes meanwhile."""
        with self._lock(self._store_lock, fcntl.LOCK_EX):
            yield

    @contextmanager
    def _thread_locked(self, name: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """The thread's file and its document as it is now, read under the thread's lock."""
        path = self._path(name)
        with self._lock(self._store_lock, fcntl.LOCK_SH), \
                self._lock(_lock_file(path), fcntl.LOCK_EX):
            yield path, self._load(path, name)

    def _tidy(self) -> None:
        """With nobody writing: remove the temporary files a crash left behind and the locks of
        threads that are gone, and make every file private. Skipped while others write."""
        try:
            with self._lock(self._store_lock, fcntl.LOCK_EX, timeout=TIDY_WAIT):
                for folder in (self.dir, self.dir / TRASH):
                    if folder.is_dir():
                        self._tidy_folder(folder)
        except (OSError, StoreError):
            pass  # the next open tidies; nothing here is needed to read or write

    def _tidy_folder(self, folder: Path) -> None:
        if folder.stat().st_mode & 0o777 != 0o700:
            os.chmod(folder, 0o700)
        with os.scandir(folder) as entries:
            stray = list(entries)
        for entry in stray:
            if entry.name.startswith(TMP_PREFIX) and entry.name.endswith(TMP_SUFFIX):
                os.unlink(entry.path)
            elif (entry.name != LOCK and entry.name.startswith(".")
                    and entry.name.endswith(".json.lock")
                    and not (folder / entry.name[1:-5]).exists()):
                os.unlink(entry.path)  # safe: thread locks are only held under the store lock
            elif entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mode & 0o777 != 0o600:
                os.chmod(entry.path, 0o600)
        _fsync_dir(folder)

    def _read(self, path: Path) -> dict[str, Any] | None:
        """The thread in ``path``, None if there is no file. A file that is not a thread is moved
        aside (kept) and StoreError names both paths: it is never replaced."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            doc = json.loads(raw.removeprefix(b"\xef\xbb\xbf"))
        except ValueError as e:
            raise self._quarantine(path, str(e)) from None
        if isinstance(doc, dict) and isinstance(doc.get("format"), int) and \
                doc["format"] > FORMAT:  # not damaged: left alone for the newer chatrepl
            raise StoreError(f"{path} was written by a newer chatrepl (format {doc['format']});"
                             " upgrade chatrepl to use it")
        try:
            return _check(doc)
        except ValueError as e:
            raise self._quarantine(path, str(e)) from None

    def _quarantine(self, path: Path, reason: str) -> StoreError:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return StoreError(f"{path} is damaged ({reason}); another chatrepl moved it aside")
        except OSError as e:
            return StoreError(f"{path} is damaged ({reason}) and could not be moved aside "
                              f"({e.strerror or e}); it was left as it is")
        with suppress(OSError):
            _fsync_dir(path.parent)
        return StoreError(f"{path} is damaged ({reason}); it was moved to {aside} and kept "
                          "(nothing was deleted)")

    def _load(self, path: Path, name: str) -> dict[str, Any]:
        doc = self._read(path)
        if doc is None or doc["name"] != name:
            raise ThreadError(f"no thread named {name!r}")
        return doc

    def _write(self, path: Path, doc: dict[str, Any]) -> None:
        """Replace ``path`` with ``doc`` atomically: a reader or a crash sees the old file or the
        new one, whole."""
        data = _dumps(doc)
        with _io(path, "write"):
            fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=path.parent)
            try:
                with open(fd, "wb") as f:
                    os.fchmod(fd, 0o600)
                    f.write(data)
                    f.flush()
                    os.fsync(fd)
                os.replace(tmp, path)
            except BaseException:
                with suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)

    def _remove(self, path: Path) -> None:
        with _io(path, "remove"):
            os.unlink(path)
            _fsync_dir(path.parent)

    def _taken(self, name: str) -> bool:
        path = self._path(name)
        if not os.path.lexists(path):
            return False
        doc = self._read(path)  # a damaged file is moved aside and reported, never taken over
        if doc is not None and doc["name"] != name:
            raise ThreadError(f"cannot use the name {name!r}: its file {path} holds the "
                              f"thread {doc['name']!r}")
        return doc is not None

    def _live(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every live thread's file and document (not copies whose name leads elsewhere)."""
        with _io(self.dir, "read"), os.scandir(self.dir) as found:
            paths = [Path(e.path) for e in found if e.name.endswith(".json")
                     and not e.name.startswith(".") and e.name != STATE and e.is_file()]
        for path in paths:
            doc = self._read(path)
            if doc is not None and self._owns(path, doc["name"]):
                yield path, doc

    def _owns(self, path: Path, name: str) -> bool:
        own = self._path(name)
        if own == path:
            return True
        try:  # the same file under another spelling (macOS stores names decomposed)
            return os.path.samefile(own, path)
        except OSError:
            return False

    def _trashed(self) -> list[tuple[Path, dict[str, Any]]]:
        folder = self.dir / TRASH
        if not folder.is_dir():
            return []
        with _io(folder, "read"), os.scandir(folder) as entries:
            paths = [Path(e.path) for e in entries
                     if e.name.endswith(".json") and not e.name.startswith(".")]
        found = [(p, doc) for p in paths if (doc := self._read(p)) is not None]
        found.sort(key=lambda p: p[1].get("deleted_at") or 0.0, reverse=True)
        return found

    def _new(self, name: str, model: str | None, system: str | None, now: float,
             messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"name": name, "model": model, "system": system, "created_at": now,
                "updated_at": now, "deleted_at": None, "format": FORMAT,
                "messages": messages or []}

    # -- threads ----------------------------------------------------------------------------------

    def list_threads(self) -> list[ThreadInfo]:
        """Every live thread, most recently active first. Reads every thread file whole."""
        infos = [_info(doc) for _, doc in self._live()]
        infos.sort(key=lambda i: (i.updated_at, i.created_at), reverse=True)
        return infos

    def get(self, name: str) -> ThreadInfo | None:
        doc = self._read(self._path(name))
        return _info(doc) if doc is not None and doc["name"] == name else None

    def create(self, name: str, *, model: str | None = None,
               system: str | None = None) -> ThreadInfo:
        now = self._clock()
        with self._names_locked():
            if self._taken(name):
                raise ThreadError(f"a thread named {name!r} already exists")
            self._write(self._path(name), self._new(name, model, system, now))
        return ThreadInfo(name, model, system, now, now, 0)

    def update(self, name: str, *, model: str | None = None, system: str | None = None,
               clear_system: bool = False) -> None:
        with self._thread_locked(name) as (path, doc):
            if model is not None:
                doc["model"] = model
            if system is not None or clear_system:
                doc["system"] = system
            self._write(path, doc)

    def rename(self, old: str, new: str) -> None:
        """Write the thread under its new file name, then remove the old file: a crash between
        the two leaves the thread twice, never nowhere."""
        with self._names_locked():
            src = self._path(old)
            doc = self._load(src, old)
            if old == new:
                return
            if self._taken(new):
                raise ThreadError(f"a thread named {new!r} already exists")
            doc["name"] = new
            self._write(self._path(new), doc)
            self._remove(src)
            state = self._state()
            if state.get("last_thread") == old:
                state["last_thread"] = new
                self._write(self.dir / STATE, state)

    def delete(self, name: str) -> None:
        """Move the thread's file to trash/ with deleted_at set (its name is free again)."""
        with self._names_locked():
            src = self._path(name)
            doc = self._load(src, name)
            doc["deleted_at"] = self._clock()
            folder = self.dir / TRASH
            with _io(folder, "create"):
                folder.mkdir(mode=0o700, exist_ok=True)
            stem = src.name.removesuffix(".json") + ".deleted-" + time.strftime("%Y%m%d-%H%M%S")
            dst, n = folder / f"{stem}.json", 1
            while os.path.lexists(dst):
                n += 1
                dst = folder / f"{stem}-{n}.json"
            self._write(dst, doc)
            self._remove(src)

    def trash(self) -> list[ThreadInfo]:
        """The deleted threads, most recently deleted first."""
        return [_info(doc, deleted=True) for _, doc in self._trashed()]

    def restore(self, name: str) -> str:
        """Bring back the most recently deleted thread called ``name``; returns its name now
        (``name``, or ``name-restored[-N]`` when a live thread has taken it)."""
        with self._names_locked():
            found = next(((p, d) for p, d in self._trashed() if d["name"] == name), None)
            if found is None:
                raise ThreadError(f"no thread named {name!r} in the trash (/trash lists it)")
            path, doc = found
            target, n = name, 1
            while self._taken(target):
                target = f"{name}-restored" + (f"-{n}" if n > 1 else "")
                n += 1
            doc["name"], doc["deleted_at"] = target, None
            self._write(self._path(target), doc)
            self._remove(path)
        return target

    def fork(self, source: str, target: str, *, upto: int | None = None) -> ThreadInfo:
        """A new thread ``target`` with the conversation of ``source`` (up to message ``upto``),
        its messages numbered from 1 again."""
        now = self._clock()
        with self._names_locked():
            doc = self._load(self._path(source), source)
            if self._taken(target):
                raise ThreadError(f"a thread named {target!r} already exists")
            kept = [m for m in map(_decode, doc["messages"])
                    if m.hidden is None and not (upto and (m.id or 0) > upto)]
            ids = {m.id: i for i, m in enumerate(kept, 1)}
            copied = [_encode(replace(m, id=ids[m.id], covers=ids.get(m.covers)), None)
                      for m in kept]
            new = self._new(target, doc.get("model"), doc.get("system"), now, copied)
            new["updated_at"] = max([now, *(m.created_at for m in kept)])
            self._write(self._path(target), new)
        return _info(new)

    # -- messages ---------------------------------------------------------------------------------

    def _add(self, doc: dict[str, Any], messages: list[Message]) -> list[int]:
        """Append to the thread's document; the ids given (each one more than the highest)."""
        next_id = max((m["id"] for m in doc["messages"]), default=0) + 1
        ids = []
        for m in messages:
            created = m.created_at or self._clock()
            hidden_at = created if m.hidden else None
            doc["messages"].append(_encode(replace(m, id=next_id, created_at=created),
                                           hidden_at))
            doc["updated_at"] = max(doc.get("updated_at", 0.0), created)
            ids.append(next_id)
            next_id += 1
        return ids

    def append(self, name: str, message: Message) -> Message:
        """Re-reads the thread, adds the message and rewrites the whole file, under its lock: the
        cost grows with the thread."""
        message = replace(message, created_at=message.created_at or self._clock(), hidden=None)
        with self._thread_locked(name) as (path, doc):
            [new_id] = self._add(doc, [message])
            self._write(path, doc)
        return replace(message, id=new_id)

    def append_many(self, name: str, messages: list[Message]) -> None:
        """Add many messages in one write (an import, a copy: hidden ones stay hidden)."""
        with self._thread_locked(name) as (path, doc):
            if self._add(doc, messages):
                self._write(path, doc)

    def messages(self, name: str, *, last: int | None = None,
                 hidden: bool = False) -> list[Message]:
        """The conversation in order. Reads the whole file even for the ``last`` few: JSON has
        no partial read."""
        doc = self._load(self._path(name), name)
        found = [m for m in doc["messages"] if hidden or m.get("hidden") is None]
        if last is not None:
            found = found[max(len(found) - last, 0):] if last > 0 else []
        return [_decode(m) for m in found]

    def hide(self, name: str, ids: list[int], reason: str) -> None:
        """Take messages out of the conversation (kept, searchable); ``reason`` says why."""
        self._mark(name, set(ids), reason)

    def unhide(self, name: str, ids: list[int]) -> None:
        self._mark(name, set(ids), None)

    def _mark(self, name: str, ids: set[int], reason: str | None) -> None:
        now = self._clock()
        with self._thread_locked(name) as (path, doc):
            found = [(i, m) for i, m in enumerate(doc["messages"]) if m["id"] in ids]
            for i, m in found:
                message = replace(_decode(m), hidden=reason)
                doc["messages"][i] = {**_encode(message, now if reason else None),
                                      **{k: v for k, v in m.items() if k not in _KNOWN}}
            if found:
                self._write(path, doc)

    def last_hidden(self, name: str, reason: str) -> list[Message]:
        """The messages most recently hidden for ``reason`` (or a ``reason:detail``), together
        (one /undo, say)."""
        doc = self._load(self._path(name), name)
        group = [m for m in doc["messages"] if isinstance(m.get("hidden"), str)
                 and (m["hidden"] == reason or m["hidden"].startswith(reason + ":"))]
        if not group:
            return []
        latest = max(m.get("hidden_at") or 0.0 for m in group)
        return [_decode(m) for m in group if (m.get("hidden_at") or 0.0) == latest]

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Messages of live threads containing every word of ``text`` (whole words, case and
        accents folded), most matches first, then newest. Reads every live thread file."""
        wanted = words.query(text)
        if not wanted:
            return []
        hits: list[tuple[int, Hit]] = []
        for _, doc in self._live():
            turn = 0
            for m in doc["messages"]:
                if m["role"] == "user" and m.get("hidden") is None:
                    turn += 1
                found = words.matches(m["content"], wanted)
                if found:
                    spans, matched = found
                    hits.append((len(matched), Hit(
                        doc["name"], m["id"], m["role"],
                        words.snippet(m["content"], spans, matched),
                        max(turn, 1), m.get("created_at", 0.0), m.get("hidden"))))
        hits.sort(key=lambda h: (-h[0], -h[1].created_at, -h[1].message_id))
        return [hit for _, hit in hits[:limit]]

    # -- small state (the thread used last) -------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        path = self.dir / STATE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            state = json.loads(raw.removeprefix(b"\xef\xbb\xbf"))
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            raise self._quarantine(path, str(e)) from None
        return state

    def get_state(self, key: str) -> str | None:
        value = self._state().get(key)
        return value if isinstance(value, str) else None

    def set_state(self, key: str, value: str) -> None:
        with self._names_locked():
            state = self._state()
            state[key] = value
            self._write(self.dir / STATE, state)

    def close(self) -> None:
        """Nothing to release: no file or lock is held between calls."""

"""The JSON-files store's disk: file locks, whole-file reads and atomic writes (repl.files), the
quarantine of a file that is not a thread, and the tidying of what a crash left behind."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from repl import files
from repl.errors import DamagedError, StoreBusyError, StoreError, ThreadError
from repl.store.jsonfiles import codec, lines, names
from repl.store.jsonfiles.names import LOCK, STATE, TRASH, file_name, lock_file


@contextmanager
def as_store_error(path: Path, doing: str) -> Iterator[None]:
    """OSError (a full disk, a read-only or forbidden directory) as StoreError naming the file."""
    try:
        yield
    except OSError as e:
        raise StoreError(f"cannot {doing} {path}: {e.strerror or e}") from None


MIGRATED = b'{"format": 3,'  # how a file written as lines begins (lines.header)


class Disk:
    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.dir = directory
        self._clock = clock
        self._store_lock = directory / LOCK
        self._readings: dict[Path, lines.Reading] = {}  # what was read of each file, to where
        # what a listing, a search or the state could not read (and went on without), one line
        # each, until the caller takes them (take_damage): the store never prints
        self.damage: list[str] = []
        try:
            files.private_dir(directory)
        except OSError as e:
            raise StoreError(f"cannot open the thread store {directory}: "
                             f"{e.strerror or e}") from None
        self._tidy()

    def _path(self, name: str) -> Path:
        return self.dir / file_name(name)

    # -- locks ------------------------------------------------------------------------------------

    @contextmanager
    def _lock(self, path: Path, how: int, *, timeout: float | None = None) -> Iterator[None]:
        """Hold the flock ``how`` on ``path`` (a fresh descriptor each time, so two stores or two
        threads of one process exclude each other too); StoreBusyError after ``timeout``."""
        with as_store_error(path, "lock"):
            fd = self._lock_file(path)
        try:
            with as_store_error(path, "lock"):
                self._acquire(fd, how, names.LOCK_TIMEOUT if timeout is None else timeout, path)
            yield
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _lock_file(path: Path) -> int:
        """A descriptor on the lock file ``path``. A link planted in its place is removed (the
        link, never what it points to) and the file made anew: a lock holds nothing."""
        try:
            return files.open_private(path)
        except files.NotAFileError:
            if not path.is_symlink():
                raise
            files.remove(path)
            return files.open_private(path)

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
                self._lock(lock_file(path), fcntl.LOCK_EX):
            yield path, self._load(path, name)

    def _drop_lock(self, path: Path) -> None:
        """Remove the lock of the thread file ``path``, gone (renamed, deleted). Called with the
        store lock held exclusively (_names_locked): nobody holds or waits for a thread's lock
        then, as it is only taken under the shared store lock."""
        with contextlib.suppress(OSError):  # left for the next open's tidying
            files.remove(lock_file(path))

    # -- stray files ------------------------------------------------------------------------------

    def _tidy(self) -> None:
        """With nobody writing: remove the temporary files a crash left behind and the locks of
        threads that are gone, and make every file private. Skipped while others write."""
        try:
            with self._lock(self._store_lock, fcntl.LOCK_EX, timeout=names.TIDY_WAIT):
                self._tidy_folder(self.dir)
                if files.subdir(self.dir / TRASH):  # never a link to a folder elsewhere
                    files.private_subdir(self.dir / TRASH)
                    self._tidy_folder(self.dir / TRASH)
        except (OSError, StoreError):
            pass  # the next open tidies; nothing here is needed to read or write

    def _tidy_folder(self, folder: Path) -> None:
        with os.scandir(folder) as entries:
            stray = list(entries)
        for entry in stray:
            if entry.name.startswith(files.TMP_PREFIX) and entry.name.endswith(files.TMP_SUFFIX):
                os.unlink(entry.path)
            elif (entry.name != LOCK and entry.name.startswith(".")
                    and entry.name.endswith(".json.lock")
                    and not (folder / entry.name[1:-5]).exists()):
                os.unlink(entry.path)  # safe: thread locks are only held under the store lock
            elif entry.is_file(follow_symlinks=False):
                files.tighten(Path(entry.path))
                if entry.name.endswith(".json") and entry.name != STATE:
                    self._migrate(Path(entry.path))
        files.fsync_dir(folder)

    def _migrate(self, path: Path) -> None:
        """A thread file of an older format (one JSON document) rewritten as lines; a damaged
        or newer one is left for reading to report."""
        try:
            with files.open_read(path) as f:
                if f.read(len(MIGRATED)) == MIGRATED:
                    return
                f.seek(0)
                reading = lines.parse(f.read())
        except (ValueError, lines.NewerError, files.NotAFileError):
            return
        if reading.rev is None:
            self._write(path, reading.doc)

    # -- whole files ------------------------------------------------------------------------------

    def _read(self, path: Path) -> dict[str, Any] | None:
        """The thread in ``path``, None if there is no file. A file that is not a thread is moved
        aside (kept) and StoreError names both paths: it is never replaced. Only what was
        appended since this store last read the file is read and parsed (lines.py)."""
        try:
            reading = self._reading(path)
        except lines.NewerError as e:  # not damaged: left alone for the newer chatrepl
            raise StoreError(f"{path} was written by a newer chatrepl (format {e.format});"
                             " upgrade chatrepl to use it") from None
        except (ValueError, files.NotAFileError) as e:  # a link is never read through either
            self._readings.pop(path, None)
            reason = e.reason if isinstance(e, files.NotAFileError) else str(e)
            raise self._quarantine(path, reason) from None
        return None if reading is None else reading.copy()

    def _reading(self, path: Path) -> lines.Reading | None:
        known = self._readings.get(path)
        try:
            f = files.open_read(path)
        except FileNotFoundError:
            self._readings.pop(path, None)
            return None
        except files.NotAFileError:
            raise
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
        with as_store_error(path, "read"), f:
            if known is not None and known.rev is not None and \
                    f.read(len(known.head)) == known.head and \
                    os.fstat(f.fileno()).st_size >= known.offset:
                f.seek(known.offset)
                lines.extend(known, f.read())  # the same file, perhaps longer
                return known
            f.seek(0)
            raw = f.read()
        reading = self._readings[path] = lines.parse(raw)
        return reading

    @staticmethod
    def _bytes(path: Path) -> bytes | None:
        """The file's bytes, None if there is none; NotAFileError for a link (or a FIFO) in its
        place, never read through."""
        try:
            return files.read_file(path)
        except FileNotFoundError:
            return None
        except files.NotAFileError:
            raise
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror or e}") from None

    def _quarantine(self, path: Path, reason: str) -> DamagedError:
        try:
            aside = files.quarantine(path)
        except FileNotFoundError:
            return DamagedError(f"{path} is damaged ({reason}); another chatrepl moved it aside")
        except OSError as e:
            return DamagedError(f"{path} is damaged ({reason}) and could not be moved aside "
                                f"({e.strerror or e}); it was left as it is")
        return DamagedError(f"{path} is damaged ({reason}); it was moved to {aside} and kept "
                            "(nothing was deleted)")

    def take_damage(self) -> list[str]:
        """What could not be read since the last call (see ``damage``), and forget it."""
        found, self.damage = self.damage, []
        return found

    def _listed(self, path: Path, *, strict: bool = False) -> dict[str, Any] | None:
        """The thread in ``path`` for a listing, a search or the trash. One that cannot be read
        is left out and said in ``damage``, so that one file never hides the others: a damaged
        one (moved aside, kept), and with ``strict`` only that one (else StoreError)."""
        try:
            return self._read(path)
        except StoreError as e:
            if strict and not isinstance(e, DamagedError):
                raise
            self.damage.append(str(e))
        return None

    def _load(self, path: Path, name: str) -> dict[str, Any]:
        doc = self._read(path)
        if doc is None or doc["name"] != name:
            raise ThreadError(f"no thread named {name!r}")
        return doc

    def _uids(self, path: Path) -> set[str]:
        """The uids of the messages in ``path``, as last read (by _load, just before)."""
        return self._readings[path].uids

    def _write(self, path: Path, doc: dict[str, Any]) -> None:
        """Replace ``path`` with ``doc``, as lines, atomically: a reader or a crash sees the old
        file or the new one, whole."""
        data, rev = lines.whole(doc)
        with as_store_error(path, "write"):
            files.atomic_write(path, data)
        self._readings[path] = lines.Reading({**doc, "messages": list(doc["messages"])}, rev,
                                             len(data), data[: data.index(b"\n") + 1],
                                             {m["uid"] for m in doc["messages"]})

    def _append(self, path: Path, doc: dict[str, Any], new: list[dict[str, Any]]) -> None:
        """Add the ``new`` messages of ``doc`` (read under the thread's lock) at the end of its
        file: one write and fsync, whatever the thread's length. An older file is rewritten as
        lines instead; a last line left half-written by a crash is moved aside first (kept)."""
        known = self._readings.get(path)
        if known is None or known.rev is None:
            self._write(path, doc)
            return
        data = b"".join(map(lines.dumps, new))
        with as_store_error(path, "write"):
            fd = files.open_private(path, os.O_WRONLY | os.O_APPEND)
            try:
                if os.fstat(fd).st_size > known.offset:
                    self._set_aside(path, fd, known.offset)
                try:
                    written = os.write(fd, data)
                    while written < len(data):
                        written += os.write(fd, data[written:])
                    os.fsync(fd)
                except OSError:  # a full disk, say: the file as it was, if it can be
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, known.offset)
                    raise
            finally:
                os.close(fd)
        known.doc = {**doc, "messages": list(doc["messages"])}
        known.offset += len(data)
        known.uids.update(m["uid"] for m in new)

    def _set_aside(self, path: Path, fd: int, offset: int) -> None:
        """Keep the bytes after the last committed line in ``<name>.torn-<time>``, then cut them
        off: they were a write that never finished (its caller was told it failed)."""
        with files.open_read(path) as f:
            f.seek(offset)
            torn = f.read()
        aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        files.atomic_write(aside, torn)
        os.ftruncate(fd, offset)

    def _write_json(self, path: Path, value: dict[str, Any]) -> None:
        """A small file that is one JSON document (the state)."""
        with as_store_error(path, "write"):
            files.atomic_write(path, codec.dumps(value))

    def _remove(self, path: Path) -> None:
        self._readings.pop(path, None)
        with as_store_error(path, "remove"):
            files.remove(path)

    # -- which files are threads ------------------------------------------------------------------

    def _taken(self, name: str) -> bool:
        path = self._path(name)
        if not os.path.lexists(path):
            return False
        doc = self._read(path)  # a damaged file is moved aside and reported, never taken over
        if doc is not None and doc["name"] != name:
            raise ThreadError(f"cannot use the name {name!r}: its file {path} holds the "
                              f"thread {doc['name']!r}")
        return doc is not None

    def _live(self, *, strict: bool = False) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every live thread's file and document (not copies whose name leads elsewhere); what
        cannot be read is left out (_listed)."""
        with as_store_error(self.dir, "read"), os.scandir(self.dir) as found:
            paths = [Path(e.path) for e in found if e.name.endswith(".json")  # links too: they
                     and not e.name.startswith(".") and e.name != STATE  # are said, not read
                     and not e.is_dir(follow_symlinks=False)]
        for path in paths:
            doc = self._listed(path, strict=strict)
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

    def _trashed(self, *, strict: bool = False) -> list[tuple[Path, dict[str, Any]]]:
        folder = self.dir / TRASH
        if not self._subfolder(folder):
            return []
        with as_store_error(folder, "read"), os.scandir(folder) as entries:
            paths = [Path(e.path) for e in entries
                     if e.name.endswith(".json") and not e.name.startswith(".")]
        found = [(p, doc) for p in paths if (doc := self._listed(p, strict=strict)) is not None]
        found.sort(key=lambda p: p[1].get("deleted_at") or 0.0, reverse=True)
        return found

    def _state(self) -> dict[str, Any]:
        path = self.dir / STATE
        try:
            raw = self._bytes(path)
            if raw is None:
                return {}
            state = json.loads(raw.removeprefix(b"\xef\xbb\xbf"))
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
        except (ValueError, RecursionError, files.NotAFileError) as e:  # moved aside, kept:
            reason = e.reason if isinstance(e, files.NotAFileError) else str(e)  # the state
            self.damage.append(str(self._quarantine(path, reason)))  # starts anew
            return {}
        return state

    @staticmethod
    def _subfolder(folder: Path, *, make: bool = False) -> bool:
        """Whether the store's ``folder`` (trash/, blobs/) is there, or with ``make`` made (0700);
        StoreError when a link stands in its place: never read, written or deleted through."""
        with as_store_error(folder, "use"):
            if make:
                files.private_subdir(folder)
                return True
            return files.subdir(folder)

"""The file primitives every store uses, each written once: a private (0700) directory and
(0600) file, an atomic write (temporary file, fsync, rename, fsync of the directory), and the
quarantine of a damaged file (moved aside as ``.damaged-<time>``, never overwritten).

Nothing is opened through a symbolic link planted inside chatrepl's own folders (a folder
synced from elsewhere can carry one to any file of the user's): every file is opened with
O_NOFOLLOW and must be a regular file, and a folder made inside one must be a folder itself
(NotAFileError otherwise). The folders chatrepl is given (the data dir, a store's) may be
reached through links, or be links: the user made those."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX, TMP_SUFFIX = ".tmp-", ".tmp"  # a file being written; a crash may leave one behind
LINK = "a symbolic link"


class NotAFileError(OSError):
    """``path`` is a symbolic link, or not a regular file (a FIFO, a device, a folder where a
    file belongs): never opened, read, written or made private through."""

    def __init__(self, path: Path, what: str) -> None:
        self.reason = f"it is {what}" + (", which chatrepl never follows in its own folders"
                                         if what == LINK else "")
        super().__init__(errno.ELOOP if what == LINK else errno.EINVAL, self.reason, str(path))
        self.path, self.what = path, what


def private_dir(path: Path) -> None:
    """Create the directory ``path`` (and its parents) for its owner only, or tighten it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)


def private_subdir(path: Path) -> None:
    """A folder inside one of chatrepl's own (a store's blobs/ or trash/, pasted/), made for
    its owner only; NotAFileError if a link, or anything but a folder, stands in its place."""
    with suppress(FileExistsError):
        os.mkdir(path, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        raise _refused(path, e) from None
    try:
        if os.fstat(fd).st_mode & 0o777 != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def subdir(path: Path) -> bool:
    """Whether the folder ``path`` (inside one of chatrepl's own) is there; NotAFileError if
    a link, or anything but a folder, stands in its place."""
    return _standing(path, stat.S_ISDIR, "not a folder")


def is_file(path: Path) -> bool:
    """Whether a regular file is at ``path`` itself (not a link to one)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def check_file(path: Path) -> None:
    """NotAFileError if a link, or anything but a regular file, is at ``path``; for a file
    another program opens by name (SQLite's), which no O_NOFOLLOW of ours can guard."""
    _standing(path, stat.S_ISREG, "not a regular file")


def _standing(path: Path, kind: Callable[[int], bool], otherwise: str) -> bool:
    """Whether something is at ``path`` itself (never followed); NotAFileError when it is a
    link, or not of ``kind`` (then it is ``otherwise``)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not kind(mode):
        raise NotAFileError(path, LINK if stat.S_ISLNK(mode) else otherwise)
    return True


def open_file(path: Path, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A descriptor on the regular file ``path``, never through a link in its place
    (NotAFileError, as for a FIFO or a device: O_NONBLOCK, so that opening one never waits)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError as e:
        raise _refused(path, e) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotAFileError(path, "not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refused(path: Path, e: OSError) -> OSError:
    """``e``, or NotAFileError when what stands at ``path`` is why it failed: a link, a
    folder where a file belongs (or the other way), a FIFO or a socket."""
    if e.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENXIO):
        return e
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # a folder above it is not one: not about ``path`` itself
        return e
    if stat.S_ISLNK(mode):
        return NotAFileError(path, LINK)
    return NotAFileError(path, "not a folder" if e.errno == errno.ENOTDIR
                         else "not a regular file")


def open_read(path: Path) -> BinaryIO:
    """The regular file ``path``, open for reading (open_file)."""
    return os.fdopen(open_file(path), "rb")


def read_file(path: Path) -> bytes:
    """The bytes of the regular file ``path`` (open_file)."""
    with open_read(path) as f:
        return f.read()


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """A descriptor on ``path``, created readable by its owner only (or tightened); never
    through a link in its place (open_file)."""
    fd = open_file(path, flags | os.O_CREAT)
    try:
        if os.fstat(fd).st_mode & 0o777 != 0o600:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, or tighten it if it exists."""
    os.close(open_private(path))


def tighten(path: Path) -> None:
    """Make an existing file private; nothing when there is no such file, or a link (never
    followed) or anything but a file stands there."""
    with suppress(FileNotFoundError):
        mode = os.lstat(path).st_mode
        if stat.S_ISREG(mode) and mode & 0o777 != 0o600:
            os.chmod(path, 0o600)


def fsync_dir(folder: Path) -> None:
    """Make a rename or an unlink in ``folder`` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # a file system that cannot sync directories
            raise
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Replace ``path`` with ``data`` (0600): a reader or a crash sees the old file or the new
    one, whole. With ``exclusive``, FileExistsError rather than replace a file already there."""
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with open(fd, "wb") as f:
            os.fchmod(fd, 0o600)
            f.write(data)
            f.flush()
            os.fsync(fd)
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def remove(path: Path) -> None:
    """Delete ``path`` for good (the directory synced); nothing when it is already gone."""
    with suppress(FileNotFoundError):
        os.unlink(path)
        fsync_dir(path.parent)


def quarantine(path: Path, *, companions: tuple[str, ...] = ()) -> Path:
    """Move the damaged ``path`` aside to ``<name>.damaged-<time>[-N]`` and return where. The
    name is claimed with a hard link, so an earlier quarantined file is never overwritten.
    ``companions`` are suffixes of files that go with it (SQLite's -wal and -shm)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:  # a link is moved aside as a link: never a hard link made to what it points to
            os.link(path, aside, follow_symlinks=False)
            break
        except FileExistsError:
            n += 1
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV) or aside.exists():
                raise
            os.rename(path, aside)  # a file system without hard links
            break
    with suppress(FileNotFoundError):
        os.unlink(path)
    for suffix in companions:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + suffix))
    with suppress(OSError):
        fsync_dir(path.parent)
    return aside

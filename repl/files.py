"""The file primitives every store uses, each written once: a private (0700) directory and
(0600) file, an atomic write (temporary file, fsync, rename, fsync of the directory), and the
quarantine of a damaged file (moved aside as ``.damaged-<time>``, never overwritten)."""

from __future__ import annotations

import errno
import os
import tempfile
import time
from contextlib import suppress
from pathlib import Path

TMP_PREFIX, TMP_SUFFIX = ".tmp-", ".tmp"  # a file being written; a crash may leave one behind


def private_dir(path: Path) -> None:
    """Create the directory ``path`` (and its parents) for its owner only, or tighten it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """A descriptor on ``path``, created readable by its owner only (or tightened)."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
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
    """Make an existing file private; nothing when there is no such file."""
    with suppress(FileNotFoundError):
        if path.stat().st_mode & 0o777 != 0o600:
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
        try:
            os.link(path, aside)
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

"""The committed frames of an SQLite WAL file, read without SQLite: the newest image of each page
as of the last whole transaction, each frame checked by its salts and running checksum, as
https://www.sqlite.org/fileformat2.html#walformat describes. A torn or stale tail is ignored.
"""

from __future__ import annotations

import struct

MAGIC = {0x377F0682: "<", 0x377F0683: ">"}  # the byte order of the checksums' words
HEADER, FRAME = 32, 24  # bytes of the file's header and of each frame's header
MASK = 0xFFFFFFFF


def page_size(wal: bytes) -> int:
    """The page size a WAL with an intact header gives, else 0."""
    if len(wal) < HEADER:
        return 0
    magic, _version, size = struct.unpack_from(">III", wal)
    if magic not in MAGIC or size & (size - 1) or not 512 <= size <= 65536:
        return 0
    if _checksum(wal[:24], MAGIC[magic], (0, 0)) != struct.unpack_from(">II", wal, 24):
        return 0
    return int(size)


def committed(wal: bytes) -> tuple[dict[int, bytes], int]:
    """(the newest committed image of each page by number, the database's size in pages after
    the last commit); nothing for a WAL whose header is lost."""
    size = page_size(wal)
    if not size:
        return {}, 0
    order, salt = MAGIC[int.from_bytes(wal[:4], "big")], wal[16:24]
    sums = struct.unpack_from(">II", wal, 24)
    done: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    pages = 0
    for at in range(HEADER, len(wal) - FRAME - size + 1, FRAME + size):
        number, commit = struct.unpack_from(">II", wal, at)
        image = wal[at + FRAME:at + FRAME + size]
        sums = _checksum(wal[at:at + 8] + image, order, sums)
        if wal[at + 8:at + 16] != salt or sums != struct.unpack_from(">II", wal, at + 16):
            break  # a frame of an older generation, or torn: the log ends here
        pending[number] = image
        if commit:  # the last frame of a transaction: all of it counts
            done.update(pending)
            pending, pages = {}, commit
    return done, pages


def _checksum(data: bytes, order: str, sums: tuple[int, int]) -> tuple[int, int]:
    first, second = sums
    words = struct.unpack(f"{order}{len(data) // 4}I", data)
    for k in range(0, len(words), 2):
        first = (first + words[k] + second) & MASK
        second = (second + words[k + 1] + first) & MASK
    return first, second

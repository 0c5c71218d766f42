"""Reading the rows of an SQLite database file without SQLite: every cell of every intact table
b-tree leaf page, whatever the schema, the indexes or the interior pages still say, with the
committed frames of its WAL laid over it. The work is one pass over the file's pages.

The format is SQLite's own, documented at https://www.sqlite.org/fileformat2.html (the header,
b-tree pages, cells and overflow pages, the record format, the WAL).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from repl.store import sqlwal

HEADER = b"SQLite format 3\x00"
LEAF_TABLE = 0x0D  # the page type of a table b-tree leaf, the pages that hold rows
PAGE_TYPES = (0x02, 0x05, 0x0A, 0x0D)  # interior index, interior table, leaf index, leaf table
SIZES = tuple(512 << k for k in range(8))  # the page sizes SQLite allows, 512 to 65536
GUESS_BYTES = 8 << 20  # the part of the file looked at to guess a lost header's page size
ENCODINGS = {1: "utf-8", 2: "utf-16-le", 3: "utf-16-be"}
FREE_SLOT = 4  # bytes per page number in a freelist trunk page

Value = int | float | str | bytes | None


class Bad(ValueError):
    """A cell, record or overflow chain that does not decode: damage, skipped."""


@dataclass(frozen=True, slots=True)
class Cell:
    page: int
    rowid: int
    values: tuple[Value, ...]


@dataclass
class File:
    """The pages of a database file (numbered from 1), the WAL's committed images first."""

    data: bytes | mmap.mmap
    page_size: int
    usable: int  # the page size less the bytes reserved at the end of each page
    encoding: str = "utf-8"
    frames: dict[int, bytes] = field(default_factory=dict)
    pages: int = 0

    def page(self, number: int) -> bytes | None:
        """Page ``number`` whole, or None where the file ends before it does."""
        if number in self.frames:
            return self.frames[number]
        start = (number - 1) * self.page_size
        if number < 1 or start + self.page_size > len(self.data):
            return None
        return bytes(self.data[start:start + self.page_size])


def cells(path: Path) -> Iterator[Cell]:
    """Every row on an intact table leaf page of the database at ``path`` (with ``path``-wal),
    skipping the pages on its freelist (erased rows stay erased)."""
    wal = path.with_name(path.name + "-wal")
    with _mapped(path) as data:
        f = _open(data, wal.read_bytes() if wal.exists() else b"")
        if f is None:
            return
        free = _freelist(f)
        for number in range(1, f.pages + 1):
            if number not in free:
                yield from _leaf_cells(f, number)


@contextmanager
def _mapped(path: Path) -> Iterator[bytes | mmap.mmap]:
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            yield b""
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield data


def _open(data: bytes | mmap.mmap, wal: bytes) -> File | None:
    header = bytes(data[:100])
    size, reserved = _header_size(header)
    wal_size = sqlwal.page_size(wal)
    size = size or wal_size or _guess_size(data)
    if not size:
        return None
    f = File(data, size, size - reserved)
    if header.startswith(HEADER):
        f.encoding = ENCODINGS.get(int.from_bytes(header[56:60], "big"), "utf-8")
    f.frames, pages = sqlwal.committed(wal) if wal_size == size else ({}, 0)
    f.pages = pages or len(data) // size  # after a commit, the size the WAL says
    return f


def _header_size(header: bytes) -> tuple[int, int]:
    """(page size, reserved bytes) from an intact header, else (0, 0)."""
    if len(header) < 100 or not header.startswith(HEADER):
        return 0, 0
    size = int.from_bytes(header[16:18], "big")
    size = 65536 if size == 1 else size
    return (size, header[20]) if size in SIZES and header[20] < size - 480 else (0, 0)


def _guess_size(data: bytes | mmap.mmap) -> int:
    """The page size under which the most pages look like b-tree pages (header lost)."""
    scores = {size: _score(File(data, size, size)) for size in SIZES}
    best = max(SIZES, key=lambda size: (scores[size], size == 4096))  # SQLite's default
    return best if scores[best] else 0


def _score(f: File) -> int:
    """How many pages look like b-tree pages, in the same first bytes under every page size (a
    larger size must not win by looking further)."""
    last = min(len(f.data), GUESS_BYTES) // f.page_size
    return sum(_looks_like_btree(f, number) for number in range(2, last + 1))


def _looks_like_btree(f: File, number: int) -> bool:
    page = f.page(number)
    if page is None or page[0] not in PAGE_TYPES:
        return False
    start = 8 if page[0] in (0x0A, 0x0D) else 12  # interior pages have a right-most pointer
    count = int.from_bytes(page[3:5], "big")
    content = int.from_bytes(page[5:7], "big") or 65536  # where the cells begin
    end = start + 2 * count
    return end <= content <= f.usable and all(content <= pointer < f.usable for pointer in
                                              struct.unpack_from(f">{count}H", page, start))


def _freelist(f: File) -> set[int]:
    """The trunk and leaf pages of the freelist, as far as the header and trunks can be read."""
    header = f.page(1)
    if header is None or not header.startswith(HEADER):
        return set()
    free: set[int] = set()
    trunk = int.from_bytes(header[32:36], "big")
    while 1 <= trunk <= f.pages and trunk not in free:
        free.add(trunk)
        page = f.page(trunk)
        if page is None:
            break
        count = min(int.from_bytes(page[4:8], "big"), f.usable // FREE_SLOT - 2)
        free.update(struct.unpack_from(f">{count}I", page, 8))
        trunk = int.from_bytes(page[0:4], "big")
    return free


def _leaf_cells(f: File, number: int) -> Iterator[Cell]:
    page = f.page(number)
    start = 100 if number == 1 else 0  # page 1 begins with the file's header
    if page is None or page[start] != LEAF_TABLE:
        return
    count = int.from_bytes(page[start + 3:start + 5], "big")
    first = start + 8
    if first + 2 * count > f.usable:
        return
    for pointer in struct.unpack_from(f">{count}H", page, first):
        if first + 2 * count <= pointer < f.usable:
            try:
                yield _cell(f, number, page, pointer)
            except (ValueError, IndexError, struct.error):  # Bad, or text that is not text
                continue


def _cell(f: File, number: int, page: bytes, at: int) -> Cell:
    size, at = varint(page, at)
    rowid, at = varint(page, at)
    local = _local(size, f.usable)
    if at + local > f.usable:
        raise Bad("a cell past its page's end")
    payload = page[at:at + local]
    if local < size:
        overflow = int.from_bytes(page[at + local:at + local + 4], "big")
        payload += _overflow(f, overflow, size - local)
    rowid -= (rowid >> 63) << 64  # a rowid is a signed 64-bit integer
    return Cell(number, rowid, record(payload, f.encoding))


def _local(size: int, usable: int) -> int:
    """How much of a table leaf cell's payload of ``size`` bytes is on its own page."""
    most = usable - 35
    if size <= most:
        return size
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    return local if local <= most else least


def _overflow(f: File, number: int, need: int) -> bytes:
    parts, seen = [], set()
    while need > 0:
        page = f.page(number) if number not in seen else None
        if page is None:
            raise Bad("an overflow chain that is lost or loops")
        seen.add(number)
        parts.append(page[4:f.usable][:need])
        need -= len(parts[-1])
        number = int.from_bytes(page[0:4], "big")
    return b"".join(parts)


def varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at ``data[at]`` and where it ends (1 to 9 bytes, big-endian)."""
    value = data[at]
    if value < 0x80:  # most are one byte: take them first
        return value, at + 1
    value &= 0x7F
    for k in range(1, 8):
        byte = data[at + k]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + k + 1
    return (value << 8) | data[at + 8], at + 9


WIDTHS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}  # integer serial types and their sizes


def record(payload: bytes, encoding: str = "utf-8") -> tuple[Value, ...]:
    """The values of a record: a header of serial types, then their bodies, to the last byte."""
    end, at = varint(payload, 0)
    if not at <= end <= len(payload):
        raise Bad("a record header past its payload")
    types = []
    while at < end:
        kind, at = varint(payload, at)
        types.append(kind)
    if at != end:
        raise Bad("a record header that overruns")
    values = []
    for kind in types:
        value, at = _value(payload, at, kind, encoding)
        values.append(value)
    if at != len(payload):
        raise Bad("a record whose values do not fill its payload")
    return tuple(values)


def _value(payload: bytes, at: int, kind: int, encoding: str) -> tuple[Value, int]:
    if kind in WIDTHS:
        end = at + WIDTHS[kind]
        if end > len(payload):
            raise Bad("an integer past its record")
        return int.from_bytes(payload[at:end], "big", signed=True), end
    if kind == 7:
        return struct.unpack_from(">d", payload, at)[0], at + 8
    if kind == 0:
        return None, at
    if kind in (8, 9):  # the integers 0 and 1, stored in the header alone
        return kind - 8, at
    if kind < 12:
        raise Bad("a reserved serial type")
    end = at + (kind - 12) // 2
    if end > len(payload):
        raise Bad("a text or blob past its record")
    body = payload[at:end]
    return (body if kind % 2 == 0 else body.decode(encoding)), end

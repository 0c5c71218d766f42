"""Attachment bytes kept once per content hash: the base64 data of a message's parts (an image's
data: URL, a file's file_data, input audio) taken out into blobs named by their SHA-256, a
reference left in their place, and put back when a request needs them. Pure: no I/O here; each
store keeps the bytes (SQLite table, JSON store directory, Redis key).

A reference is ``chatrepl-blob:<sha256>:<bytes>:<width>x<height>:<header>``, the header being
what preceded the base64 (``data:image/png;base64,``, or nothing for input audio), so that
the part is given back exactly: only base64 that encodes back to itself is taken out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from repl.thread import PREFIX, Part, Ref, data_slot, is_sha, parse_ref

# what is sent in place of a part whose reference is not the store's own
BROKEN = "[an attachment left out: its reference does not name this store's bytes]"

def _decode(value: str, key: str) -> tuple[str, bytes] | None:
    """(header, bytes) of a data: URL (or of input audio's bare base64), if it can be given
    back exactly."""
    header, data = "", value
    if value.startswith("data:"):
        head, sep, data = value.partition(",")
        if not sep or not head.endswith(";base64"):
            return None
        header = head + ","
    elif key != "input_audio":
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return (header, raw) if raw and base64.b64encode(raw).decode() == data else None


def take_out(parts: Iterable[Part]) -> tuple[tuple[Part, ...], dict[str, bytes]]:
    """The parts with references in place of their data, and the bytes by SHA-256."""
    found: dict[str, bytes] = {}
    kept: list[Part] = []
    for part in parts:
        slot = data_slot(part)
        decoded = _decode(slot[2], slot[0]) if slot else None
        if slot is None or decoded is None:
            kept.append(part)
            continue
        key, field, _ = slot
        header, raw = decoded
        sha = hashlib.sha256(raw).hexdigest()
        ref = Ref(sha, len(raw), header, *image_size(raw))
        if parse_ref(str(ref)) != ref:  # an odd header: kept inline rather than misread later
            kept.append(part)
            continue
        found[sha] = raw
        kept.append({**part, key: {**part[key], field: str(ref)}})
    return tuple(kept), found


def refs(parts: Iterable[Part] | None) -> list[Ref]:
    """The references in ``parts``."""
    found = (parse_ref(slot[2]) for slot in map(data_slot, parts or ()) if slot)
    return [r for r in found if r is not None]


Read = Callable[[str], bytes | None]  # a blob's bytes by SHA-256; None: not the store's own


def expand(payload: list[dict[str, Any]], read: Read) -> list[dict[str, Any]]:
    """The request's messages with every reference replaced by its data (``read`` gives the
    bytes of a SHA-256, None when what holds them is not the store's own: a link planted in
    a JSON store, say); messages without one are passed on as they are."""
    return [_expand_message(m, read) for m in payload]


def _expand_message(m: dict[str, Any], read: Read) -> dict[str, Any]:
    content = m.get("content")
    if not isinstance(content, list):
        return m
    parts = [p for p in content if isinstance(p, Mapping)]
    if not refs(parts) and not broken(parts):
        return m
    return {**m, "content": [_expand_part(p, read) if isinstance(p, Mapping) else p
                             for p in content]}


def _expand_part(part: Part, read: Read) -> Part:
    slot = data_slot(part)
    ref = parse_ref(slot[2]) if slot else None
    if slot is None or not slot[2].startswith(PREFIX):
        return part
    if ref is None:  # it only looks like a reference (a file synced in, say): never a path
        return {"type": "text", "text": BROKEN}
    raw = read(checked(ref.sha))
    if raw is None:
        return {"type": "text", "text": BROKEN}
    key, field, _ = slot
    data = ref.header + base64.b64encode(raw).decode()
    return {**part, key: {**part[key], field: data}}


def broken(parts: Iterable[Part] | None) -> int:
    """How many of ``parts`` hold a string that looks like a reference and is not one."""
    return sum(1 for slot in map(data_slot, parts or ()) if slot and slot[2].startswith(PREFIX)
               and parse_ref(slot[2]) is None)


def checked(sha: str) -> str:
    """``sha``, the name of a blob, if it is one (a SHA-256 in hex); ValueError otherwise: a
    store builds no path or key from anything else."""
    if not is_sha(sha):
        raise ValueError(f"not a blob name: {sha[:80]!r}")
    return sha


def image_size(raw: bytes) -> tuple[int, int]:
    """(width, height) from a PNG, GIF, JPEG or WebP header; (0, 0) when unknown."""
    try:
        if raw[:8] == b"\x89PNG\r\n\x1a\n":
            return struct.unpack(">II", raw[16:24])
        if raw[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", raw[6:10])
        if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
            return _webp(raw)
        if raw[:2] == b"\xff\xd8":
            return _jpeg(raw)
    except struct.error:
        pass
    return 0, 0


def _webp(raw: bytes) -> tuple[int, int]:
    chunk = raw[12:16]
    if chunk == b"VP8X":
        w, h = int.from_bytes(raw[24:27], "little"), int.from_bytes(raw[27:30], "little")
        return w + 1, h + 1
    if chunk == b"VP8L":
        bits = int.from_bytes(raw[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", raw[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return 0, 0


def _jpeg(raw: bytes) -> tuple[int, int]:
    i = 2
    while i + 9 < len(raw) and raw[i] == 0xFF:
        marker, length = raw[i + 1], int.from_bytes(raw[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", raw[i + 5:i + 9])
            return w, h
        i += 2 + length
    return 0, 0


__all__ = ["BROKEN", "PREFIX", "Ref", "broken", "checked", "expand", "image_size", "refs",
           "take_out"]

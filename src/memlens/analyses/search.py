"""Byte-pattern search over the saved bytes of any address space.

Mapped files (cores, raw dumps) are searched in place with ``mmap.find``
(no copy); other backings (a live process) are read in chunks that overlap by
``len(pattern) - 1`` so no match is lost at a chunk edge.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.errors import AddressError, UsageError

CHUNK = 16 << 20


def int_pattern(value: int, size: int, byteorder: str) -> bytes:
    """``value`` as ``size`` bytes in the target's byte order (negative: two's complement).

    Raises:
        UsageError: the value does not fit.
    """
    if not -(1 << (8 * size - 1)) <= value < 1 << (8 * size):
        raise UsageError(f"{value} does not fit in {size} bytes")
    fmt = ("<" if byteorder == "little" else ">") + {4: "I", 8: "Q", 2: "H", 1: "B"}[size]
    return struct.pack(fmt, value % (1 << (8 * size)))


def hex_pattern(text: str) -> bytes:
    """Bytes from hex text (``48656c6c6f``, ``0x4865...``, spaces allowed).

    Raises:
        UsageError: not an even number of hex digits.
    """
    t = text.strip().lower().replace(" ", "").replace(":", "")
    t = t.removeprefix("0x")
    try:
        data = bytes.fromhex(t)
    except ValueError:
        raise UsageError(f"not hex bytes: {text!r}") from None
    if not data:
        raise UsageError("empty pattern")
    return data


def search(
    space: AddressSpace, pattern: bytes, *, align: int = 1, start: int = 0, end: int = 1 << 64
) -> Iterator[int]:
    """Addresses in ``[start, end)`` where ``pattern`` occurs in saved bytes, ascending.

    Matches do not span separately saved segments.
    """
    if not pattern:
        raise UsageError("empty pattern")
    for seg_start, seg_end, seg in space.saved_ranges():
        lo, hi = max(seg_start, start), min(seg_end, end)
        if hi - lo < len(pattern):
            continue
        if isinstance(seg.backing, BufferBacking):
            yield from space.find(pattern, lo, hi, align=align)
        else:
            yield from _chunked(seg, pattern, lo, hi, align)


def _chunked(seg: Segment, pattern: bytes, lo: int, hi: int, align: int) -> Iterator[int]:
    assert seg.backing is not None
    base = seg.backing_offset - seg.start
    overlap = len(pattern) - 1
    pos = lo
    while pos < hi - overlap:
        stop = min(hi, pos + CHUNK + overlap)
        try:
            data = seg.backing.read(pos + base, stop - pos)
        except AddressError:
            pos += CHUNK  # unreadable in the live process: skip this chunk
            continue
        at = data.find(pattern)
        while at >= 0:
            if (pos + at) % align == 0:
                yield pos + at
            at = data.find(pattern, at + 1)
        pos += CHUNK

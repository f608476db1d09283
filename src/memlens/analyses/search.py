"""Byte-pattern search over the saved bytes of any address space.

Mapped files (cores, raw dumps) are searched in place, without copies: for a
pattern of 4 bytes or more, four ``uint32`` views of the mapping shifted by
0-3 bytes are compared with the pattern's first 4 bytes in numpy and only
the candidates are checked in full (only the shifts that can be aligned when
an alignment is asked for).  That runs at memory speed whatever the bytes
hold, where ``mmap.find`` slows down on data full of the pattern's first
byte.  Shorter patterns use ``mmap.find``.  Other backings (a live process)
are read in chunks that overlap by ``len(pattern) - 1`` so no match is lost at
a chunk edge.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.errors import AddressError, UsageError

CHUNK = 16 << 20
#: bytes compared per numpy step (a window that stays in the CPU cache)
NP_CHUNK = 1 << 20


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
        if isinstance(seg.backing, BufferBacking) and len(pattern) >= 4:
            yield from _numpy(seg, pattern, lo, hi, align)
        elif isinstance(seg.backing, BufferBacking):
            yield from space.find(pattern, lo, hi, align=align)
        else:
            yield from _chunked(seg, pattern, lo, hi, align)


def _numpy(seg: Segment, pattern: bytes, lo: int, hi: int, align: int) -> Iterator[int]:
    """Matches in a mapped segment: shifted uint32 compares, then a full check per candidate.

    Windows of NP_CHUNK bytes stay in the CPU cache; the compare writes into one reused
    boolean buffer and ``any()`` skips the (usual) windows without a candidate.
    """
    assert isinstance(seg.backing, BufferBacking)
    backing = seg.backing
    head = np.frombuffer(pattern[:4], dtype=np.uint32)[0]
    base = seg.backing_offset - seg.start
    n = len(pattern)
    mask = np.empty(NP_CHUNK // 4 + 1, dtype=np.bool_)
    pos = lo
    while pos <= hi - n:
        stop = min(hi, pos + NP_CHUNK + n - 1)  # windows starting before pos + NP_CHUNK
        window = backing.array(pos + base, stop - pos)
        starts = min(NP_CHUNK, stop - pos - n + 1)  # match starts covered by this window
        found = []
        for k in range(4):
            if align % 4 == 0 and (pos + k) % 4:
                continue  # this shift never lands on an aligned address
            count = min((starts - k + 3) // 4, (len(window) - k) // 4)
            if count <= 0:
                continue
            hits = mask[:count]
            np.equal(window[k : k + 4 * count].view(np.uint32), head, out=hits)
            if hits.any():
                found.append(np.flatnonzero(hits) * 4 + k)
        if found:
            for c in np.sort(np.concatenate(found)).tolist():
                addr = pos + c
                if addr % align == 0 and (n == 4 or window[c : c + n].tobytes() == pattern):
                    yield addr
        pos += NP_CHUNK


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

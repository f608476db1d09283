"""Byte-pattern search for ``memlens find``: patterns from the command line, and the search.

The search itself is :meth:`AddressSpace.find` (segments, alignment) over each
backing's ``find_all`` (:mod:`memlens.core.bytesearch`: numpy over mapped
bytes, overlapping chunks over a live process).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from memlens.core.addrspace import AddressSpace
from memlens.errors import UsageError


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
    return space.find(pattern, start, end, align=align)

"""LEB128, DWARF's variable-length integers (DWARF 5, section 7.6)."""

from __future__ import annotations

from collections.abc import Sequence

#: a value longer than this many bits is malformed (the longest DWARF needs is 64)
MAX_SHIFT = 70


class Leb128Error(ValueError):
    """The number runs past ``end`` or is longer than any DWARF value."""


def read_leb128(data: Sequence[int], pos: int, end: int, signed: bool) -> tuple[int, int]:
    """The number at ``data[pos]`` and the position after it.

    Raises:
        Leb128Error: no final byte before ``end``, or more than 70 bits.
    """
    result = shift = 0
    while True:
        if pos >= end:
            raise Leb128Error("LEB128 runs past its end")
        if shift > MAX_SHIFT:
            raise Leb128Error("LEB128 too long")
        b = int(data[pos])
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if signed and b & 0x40:
                result -= 1 << shift
            return result, pos

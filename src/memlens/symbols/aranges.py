"""``.debug_aranges``: which addresses belong to a compilation unit.

A line-table lookup answers for an address only inside a compilation unit's
ranges; alignment padding between two functions of one unit is inside them
(its line row runs on), padding after a unit's last function is not.  The
table (DWARF 5, section 6.1.2) is a list of units, each a header
(unit_length, version, debug_info_offset, address_size, segment_selector_size)
then ``(address, length)`` pairs aligned to twice the address size, ending
with a ``(0, 0)`` pair.  Compressed sections (``SHF_COMPRESSED``, zlib) are
inflated first.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError
from memlens.symbols.elffile import ElfFile

SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
U64 = npt.NDArray[np.uint64]


def section_bytes(elf: ElfFile, name: str) -> bytes | None:
    """The contents of section ``name``, inflated when compressed; None when absent or
    compressed in a way not handled here (zstd)."""
    sec = elf.section(name)
    if sec is None:
        return None
    data = bytes(elf.section_data(sec))
    if not sec.flags & SHF_COMPRESSED:
        return data
    # Elf32_Chdr: type, size, addralign (4 bytes each); Elf64_Chdr: type, reserved, size,
    # addralign (4, 4, 8, 8)
    head = 12 if elf.elfclass == 1 else 24
    if len(data) < head or struct.unpack_from(elf.order + "I", data)[0] != ELFCOMPRESS_ZLIB:
        return None
    try:
        return zlib.decompress(data[head:])
    except zlib.error as e:
        raise FormatError(elf.path, sec.offset, f"{name}: {e}") from None


def unit_ranges(path: str) -> tuple[U64, U64] | None:
    """Sorted ``(starts, ends)`` of every compilation unit's address ranges, or None
    when the file has no ``.debug_aranges``.

    Raises:
        FormatError: not an ELF file, or a corrupt compressed section.
    """
    with ElfFile(path) as elf:
        data = section_bytes(elf, ".debug_aranges")
        order = elf.order
    if data is None:
        return None
    return parse_aranges(data, order)


def parse_aranges(data: bytes, order: str = "<") -> tuple[U64, U64]:
    """Sorted ``(starts, ends)`` of the ranges in ``.debug_aranges`` bytes; a unit that is
    cut short or has sizes this reader does not handle ends or is skipped (never raises)."""
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    while pos + 4 <= len(data):
        unit = pos
        (length,) = struct.unpack_from(order + "I", data, pos)
        offset_size, pos = 4, pos + 4
        if length == 0xFFFFFFFF:  # 64-bit DWARF: the real length follows
            if pos + 8 > len(data):
                break
            (length,) = struct.unpack_from(order + "Q", data, pos)
            offset_size, pos = 8, pos + 8
        end = min(pos + length, len(data))
        header = pos + 2 + offset_size + 2  # version, debug_info_offset, sizes
        if header > end:
            break
        asize, ssize = data[header - 2], data[header - 1]
        if asize in (4, 8) and not ssize:
            tup = 2 * asize
            first = header + (-(header - unit) % tup)
            code = order + ("II" if asize == 4 else "QQ")
            for at in range(first, end - tup + 1, tup):
                addr, size = struct.unpack_from(code, data, at)
                if addr == 0 and size == 0:
                    break
                starts.append(addr)
                ends.append(min(addr + size, (1 << 64) - 1))
        pos = end
    first_sorted = np.argsort(np.array(starts, np.uint64), kind="stable")
    return (np.array(starts, np.uint64)[first_sorted], np.array(ends, np.uint64)[first_sorted])


def inside(ranges: tuple[U64, U64], addresses: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Which ``addresses`` lie in one of ``ranges`` (ranges may overlap; checked exactly)."""
    starts, ends = ranges
    a = np.asarray(addresses, np.uint64)
    if not len(starts):
        return np.zeros(len(a), bool)
    maxend = np.maximum.accumulate(ends)
    i = np.searchsorted(starts, a, side="right").astype(np.int64) - 1
    ok = (i >= 0) & (a < maxend[np.maximum(i, 0)])
    return ok

"""MicroPython's ``mem_info(1)`` text, character for character.

Follows ``gc_dump_info`` and ``gc_dump_alloc_table`` in ``py/gc.c``: one
header per area (``GC memory layout; from %p:``, ``%p`` printed as bare
lowercase hex by ``mp_printf``), 64 blocks per line, a line offset of
``%08x`` (since v1.20; ``%05x`` masked to 20 bits before), and a run of free
blocks that starts a line and covers at least two whole lines printed as
``(N lines all free)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from memlens.mpy.atb import GcInfo

BLOCKS_PER_LINE = 64


def info_lines(info: GcInfo, max_new_split: int | None = None) -> str:
    """The ``GC:`` line and the block-counts line."""
    head = f"GC: total: {info.total}, used: {info.used}, free: {info.free}"
    if max_new_split is not None:
        head += f", max new split: {max_new_split}"
    return (head + "\n" + f" No. of 1-blocks: {info.num_1block}, 2-blocks: {info.num_2block}, "
            f"max blk sz: {info.max_block}, max free sz: {info.max_free}\n")  # fmt: skip


def _offset(value: int, width: int) -> str:
    if width == 5:
        return f"{value & 0xFFFFF:05x}"
    return f"{value & 0xFFFFFFFF:08x}"


def area_table(
    pool_start: int,
    chars: npt.NDArray[np.uint8],
    block_size: int,
    *,
    offset_width: int = 8,
    pointer_prefix: str = "",
) -> str:
    """One area's part of ``gc_dump_alloc_table``; ``chars`` is one byte per block."""
    n = len(chars)
    out = [f"GC memory layout; from {pointer_prefix}{pool_start:x}:"]
    used = np.flatnonzero(chars != ord("."))
    bl = 0
    while bl < n:
        # first non-free block at or after bl
        k = int(np.searchsorted(used, bl))
        bl2 = int(used[k]) if k < len(used) else n
        if bl2 - bl >= 2 * BLOCKS_PER_LINE:
            out.append(f"\n       ({(bl2 - bl) // BLOCKS_PER_LINE} lines all free)")
            bl = bl2 & ~(BLOCKS_PER_LINE - 1)
            if bl >= n:
                break
        stop = min(bl + BLOCKS_PER_LINE, n)
        out.append(f"\n{_offset(bl * block_size, offset_width)}: ")
        out.append(chars[bl:stop].tobytes().decode("ascii"))
        bl = stop
    out.append("\n")
    return "".join(out)


def alloc_table(
    areas: Sequence[tuple[int, npt.NDArray[np.uint8]]],
    block_size: int,
    *,
    offset_width: int = 8,
    pointer_prefix: str = "",
) -> str:
    """The whole table: every area in list order."""
    return "".join(
        area_table(start, chars, block_size, offset_width=offset_width,
                   pointer_prefix=pointer_prefix)
        for start, chars in areas
    )  # fmt: skip

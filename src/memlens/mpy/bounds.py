"""A heap given by its bounds alone (``--heap START:END``), with no area record.

``gc_setup_area`` in ``py/gc.c`` carves ``[start, end)`` the same way every
time: the allocation table first, ``(len - gap) * 8 / (8 + 8 * 4 / 8 + 8 * 4 *
block)`` bytes of it with a finaliser table (``(len - gap) / (1 + 4 * block)``
without one), then the gap byte and the finaliser table, and the pool of
``4 * atb_len`` blocks ending at ``end``.  Each layout and word size gives one
candidate; the ones whose allocation table is consistent are kept, the first
in :data:`KNOWN_LAYOUTS` order wins.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError
from memlens.mpy.atb import decode_states, states_consistent
from memlens.mpy.gather import PieceGather
from memlens.mpy.layout import (
    AT_FREE,
    AT_HEAD,
    AT_MARK,
    BLOCKS_PER_ATB,
    BLOCKS_PER_FTB,
    KNOWN_LAYOUTS,
    WORDS_PER_BLOCK,
    AreaLayout,
    HeapArea,
)
from memlens.mpy.locate import Located


def carve(start: int, end: int, layout: AreaLayout, word_size: int) -> HeapArea | None:
    """The area ``gc_setup_area`` makes of ``[start, end)`` with ``layout``."""
    block = WORDS_PER_BLOCK * word_size
    end -= end % block  # gc_init aligns the end down to a block
    total = end - start - layout.gap
    if total <= 0:
        return None
    if layout.finaliser:
        atb_len = total * 8 // (8 + 8 * BLOCKS_PER_ATB // BLOCKS_PER_FTB + 8 * BLOCKS_PER_ATB
                                * block)  # fmt: skip
        ftb: int | None = start + atb_len + layout.gap
    else:
        atb_len = total // (1 + 8 // 2 * block)
        ftb = None
    if atb_len <= 0:
        return None
    pool_start = end - atb_len * BLOCKS_PER_ATB * block
    return HeapArea(None, start, atb_len, ftb, pool_start, end)


def pointer_score(mem: PieceGather, area: HeapArea, states: npt.NDArray[np.uint8]) -> float:
    """Words inside allocations that point into the pool on a block boundary and land
    on a head block (as live pointers do), less ten times those that land elsewhere.

    A carve with the wrong layout or word size puts the pool a few blocks off (its
    pointers then land on tails and free blocks), or reads pairs of words as one
    (few of which point into the pool at all).
    """
    ws = mem.word_size
    block = WORDS_PER_BLOCK * ws
    pool = mem.space.view(area.pool_start, area.pool_end - area.pool_start)
    if pool is None:
        return float("-inf")
    words = pool[: len(pool) - len(pool) % ws].view(mem.dtype).astype(np.uint64)
    used = np.repeat(states != AT_FREE, WORDS_PER_BLOCK)[: len(words)]
    vals = words[used]
    lo, hi = np.uint64(area.pool_start), np.uint64(area.pool_end)
    inside = vals[(vals >= lo) & (vals < hi)]
    inside = inside[(inside - lo) % np.uint64(block) == 0]
    target = states[((inside - lo) // np.uint64(block)).astype(np.int64)]
    hits = int(np.count_nonzero((target == AT_HEAD) | (target == AT_MARK)))
    return float(hits - 10 * (len(inside) - hits))


def locate_in_bounds(
    mem: PieceGather, start: int, end: int, source: str
) -> tuple[Located, float]:
    """The area of a heap whose memory is exactly ``[start, end)``, and how well its
    pointers agree with its table (:func:`pointer_score`; the best layout wins).

    Raises:
        FormatError: the bounds are not saved, or no layout gives a consistent table.
    """
    if end <= start:
        raise FormatError(source, start, f"--heap end {end:#x} is not above its start")
    if mem.space.view(start, end - start) is None:
        raise FormatError(source, start, f"--heap {start:#x}:{end:#x} is not all saved in the dump")
    best: tuple[float, int, HeapArea, AreaLayout] | None = None
    seen = set()
    for rank, layout in enumerate(KNOWN_LAYOUTS):
        key = (layout.finaliser, layout.gap)
        area = carve(start, end, layout, mem.word_size)
        if key in seen or area is None:
            continue
        seen.add(key)
        atb = mem.space.view(area.atb_start, area.atb_len + layout.gap)
        if atb is None or (layout.gap and atb[area.atb_len] != 0):
            continue
        states = decode_states(atb[: area.atb_len])
        if not states_consistent(states):
            continue
        score = pointer_score(mem, area, states)
        if best is None or (score, -rank) > (best[0], -best[1]):
            best = (score, rank, area, layout)
    if best is None:
        where = f"--heap {start:#x}:{end:#x}"
        raise FormatError(source, start, "no MicroPython GC heap found: no table layout gives "
                          f"a consistent allocation table for {where}")  # fmt: skip
    score, _, area, layout = best
    plain = AreaLayout(layout.name.replace("split+", ""), layout.finaliser, layout.gap, None)
    block = WORDS_PER_BLOCK * mem.word_size
    how = f"--heap bounds (layout {plain.name}, {block}-byte blocks inferred)"
    return Located([area], plain, how, None), score

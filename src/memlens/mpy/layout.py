"""Heap areas and the layouts of ``mp_state_mem_area_t`` that memlens knows.

A heap area is an allocation table (ATB, 2 bits per block), an optional
finaliser table (FTB, 1 bit per block), since MicroPython commit 9f434dd8de
(2021) one zero "gap" byte between the two, and the pool of blocks.  A block
is ``4 * word`` bytes.  With ``MICROPY_GC_SPLIT_HEAP`` the area record begins
with ``next``; areas added by ``gc_add`` keep their record just before their
ATB.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCKS_PER_ATB = 4
BLOCKS_PER_FTB = 8
WORDS_PER_BLOCK = 4

AT_FREE, AT_HEAD, AT_TAIL, AT_MARK = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class AreaLayout:
    """Where the fields of one ``mp_state_mem_area_t`` variant are, in words.

    ``next_word`` is relative to ``gc_alloc_table_start`` (``-1``: split heap,
    ``next`` is the first member); ``None`` when the build has no split heap.
    """

    name: str
    finaliser: bool
    gap: int
    next_word: int | None


# Probed in this order; the first that yields a consistent heap wins.
KNOWN_LAYOUTS: tuple[AreaLayout, ...] = (
    AreaLayout("split+finaliser+gap", True, 1, -1),
    AreaLayout("split+gap", False, 1, -1),
    AreaLayout("finaliser+gap", True, 1, None),
    AreaLayout("gap", False, 1, None),
    AreaLayout("finaliser (before 2021, no gap)", True, 0, None),
    AreaLayout("no finaliser, no gap", False, 0, None),
)


@dataclass(frozen=True, slots=True)
class HeapArea:
    """One contiguous GC area, as its record describes it."""

    record: int | None
    atb_start: int
    atb_len: int
    ftb_start: int | None
    pool_start: int
    pool_end: int
    next: int | None = None

    @property
    def n_blocks(self) -> int:
        return self.atb_len * BLOCKS_PER_ATB

    @property
    def block_size(self) -> int:
        return (self.pool_end - self.pool_start) // max(self.n_blocks, 1)

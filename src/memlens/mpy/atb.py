"""The allocation table as a numpy array of block states, and MicroPython's numbers.

``gc_info`` in ``py/gc.c`` walks the blocks one by one; the same numbers are
computed here over whole arrays (no Python loop per block), including its
quirks: a run counts as a 1- or 2-block allocation when the next block is
free or a head (or the area ends); the largest free run is only closed by a
head or the end of an area; marked heads change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.mpy.layout import AT_FREE, AT_HEAD, AT_MARK, AT_TAIL

States = npt.NDArray[np.uint8]


def decode_states(atb: npt.NDArray[np.uint8]) -> States:
    """2-bit states, four per byte, least significant bits first."""
    b = np.asarray(atb, dtype=np.uint8)
    out = np.empty((len(b), 4), dtype=np.uint8)
    for j in range(4):
        out[:, j] = (b >> (2 * j)) & 3
    return out.reshape(-1)


def states_consistent(states: States) -> bool:
    """A tail never follows a free block and the first block is not a tail."""
    if len(states) == 0:
        return False
    if states[0] == AT_TAIL:
        return False
    return not bool(np.any((states[1:] == AT_TAIL) & (states[:-1] == AT_FREE)))


@dataclass(frozen=True, slots=True)
class GcInfo:
    """``gc_info_t``: bytes for total/used/free, blocks for the rest."""

    total: int
    used: int
    free: int
    num_1block: int
    num_2block: int
    max_block: int
    max_free: int
    block_size: int


@dataclass(frozen=True, slots=True)
class AreaCounts:
    used_blocks: int
    free_blocks: int
    num_1block: int
    num_2block: int
    max_block: int
    max_free: int


def _last_index(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """For each i, the largest j <= i with mask[j], or -1."""
    idx = np.where(mask, np.arange(len(mask), dtype=np.int64), -1)
    return np.maximum.accumulate(idx)


def area_counts(s: States) -> AreaCounts:
    """``gc_info``'s counters over one area's states."""
    n = len(s)
    if n == 0:
        return AreaCounts(0, 0, 0, 0, 0, 0)
    free = s == AT_FREE
    head = s == AT_HEAD
    tail = s == AT_TAIL
    used = int(np.count_nonzero(head | tail))
    # len after each block: FREE sets 0, HEAD sets 1, TAIL adds 1, MARK keeps.
    tails = np.cumsum(tail, dtype=np.int64)
    reset = _last_index(free | head)
    base = np.where(reset >= 0, head[np.maximum(reset, 0)].astype(np.int64), 0)
    length = base + tails - np.where(reset >= 0, tails[np.maximum(reset, 0)], 0)
    nxt = np.empty(n, dtype=np.uint8)
    nxt[:-1] = s[1:]
    last = np.zeros(n, dtype=bool)
    last[-1] = True
    closes = last | (nxt == AT_FREE) | (nxt == AT_HEAD)
    closed = length[closes]
    n1 = int(np.count_nonzero(closed == 1))
    n2 = int(np.count_nonzero(closed == 2))
    max_block = int(closed.max()) if len(closed) else 0
    # len_free: free blocks since the last reset, a reset being "next is HEAD".
    frees = np.cumsum(free, dtype=np.int64)
    ends = last | (nxt == AT_HEAD)
    end_idx = np.flatnonzero(ends)
    at_end = frees[end_idx]
    prev = np.concatenate(([0], at_end[:-1]))
    runs = at_end - prev
    max_free = int(runs.max()) if len(runs) else 0
    return AreaCounts(used, int(np.count_nonzero(free)), n1, n2, max_block, max_free)


def gc_info(areas_states: Sequence[States], totals: Sequence[int], block_size: int) -> GcInfo:
    """Numbers exactly as ``gc_info`` sums them over all areas."""
    counts = [area_counts(s) for s in areas_states]
    return GcInfo(
        total=sum(totals),
        used=sum(c.used_blocks for c in counts) * block_size,
        free=sum(c.free_blocks for c in counts) * block_size,
        num_1block=sum(c.num_1block for c in counts),
        num_2block=sum(c.num_2block for c in counts),
        max_block=max((c.max_block for c in counts), default=0),
        max_free=max((c.max_free for c in counts), default=0),
        block_size=block_size,
    )


def free_runs(s: States) -> npt.NDArray[np.int64]:
    """Lengths of maximal runs of free blocks, in address order."""
    free = np.concatenate(([False], s == AT_FREE, [False]))
    d = np.diff(free.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return (stops - starts).astype(np.int64)


def heads(s: States) -> npt.NDArray[np.int64]:
    """Indices of head blocks (marked heads included)."""
    return np.flatnonzero((s == AT_HEAD) | (s == AT_MARK)).astype(np.int64)


def block_lengths(s: States, head_idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Blocks in each allocation: the head plus the tails that follow it."""
    n = len(s)
    not_tail = np.flatnonzero(s != AT_TAIL)
    pos = np.searchsorted(not_tail, head_idx, side="right")
    nxt = np.where(pos < len(not_tail), not_tail[np.minimum(pos, len(not_tail) - 1)], n)
    return (nxt - head_idx).astype(np.int64)

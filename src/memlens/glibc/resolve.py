"""From a pointer value to the block it points into, in O(1) per value.

Chunks tile each heap run exactly, so a table from each *granule* of a run
(8 words) to the chunk holding its first byte, then at most ``STEPS`` steps
forward through the sorted chunk addresses (a chunk is at least 4 words, a
fencepost 2), answers any address with a few gathers (``searchsorted`` over
ten million blocks cost ~20x more; a table per 2-word unit, 4x the memory).
Within the chunk found, the offset says
the rest: the first word is the previous chunk's tail (an in-use chunk owns
its successor's ``prev_size``), the second is the size field (no block's),
from the third on it is the chunk's own user memory, a *start* pointer at
exactly the third.  Mmapped blocks, few, are found by ``searchsorted``.
Under memlens's shim a block is what the program sees instead: the shim's
pointer and the requested size (:meth:`Resolver.set_program_view`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.glibc.chunktable import HeapWalk, State

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]
GRANULE_WORDS = 8
STEPS = GRANULE_WORDS // 2  # chunk starts after the first one a granule can hold


@dataclass(slots=True)
class _Run:
    base: int
    end: int
    table: I32  # granule -> sorted index of the chunk holding the granule's first byte


class Resolver:
    """Maps values to block indices.  Blocks are the in-use and mmapped chunks
    in address order; ``rows`` gives each block's chunk-table row."""

    def __init__(self, walk: HeapWalk) -> None:
        c = walk.chunks
        w = walk.layout.word
        self.word = w
        addr = c.address
        order: I64 | None = None
        if len(addr) > 1 and not bool(np.all(addr[1:] > addr[:-1])):
            order = np.argsort(addr, kind="stable")
            addr = addr[order]
        state = c.state if order is None else c.state[order]
        size = c.size if order is None else c.size[order]
        self.addr = addr
        is_block = (state == State.IN_USE) | (state == State.MMAPPED)
        # chunk (sorted) -> block index, -1 when not a block
        self.block_of = np.where(is_block, np.cumsum(is_block, dtype=np.int64) - 1, -1
                                 ).astype(np.int32)  # fmt: skip
        picked = np.flatnonzero(is_block)
        self.rows = picked if order is None else order[picked]
        usable = np.where(state == State.MMAPPED, size - np.uint64(2 * w), size - np.uint64(w))
        self.start = addr[picked] + np.uint64(2 * w)
        self.end = self.start + usable[picked]
        self.mmapped = np.flatnonzero(state[picked] == State.MMAPPED)
        self.first: U64 | None = None  # set_program_view: each block's memory, as the
        self.limit: U64 | None = None  # program sees it
        gran = GRANULE_WORDS * w
        self.gran = gran
        self.runs: list[_Run] = []
        for a in walk.arenas:
            for s, e in a.heaps:
                lo, hi = np.searchsorted(addr, [s, e])
                if hi <= lo:
                    continue
                base = int(addr[lo])
                rel = (addr[lo:hi] - np.uint64(base)).astype(np.int64)
                ends = rel + size[lo:hi].astype(np.int64)
                # granule starts inside each chunk: ceil(end / g) - ceil(start / g)
                counts = -(-ends // gran) - (-(-rel // gran))
                table = np.repeat(np.arange(lo, hi, dtype=np.int32), counts)
                self.runs.append(_Run(base, base + int(ends[-1]), table))

    def __len__(self) -> int:
        return len(self.start)

    def set_program_view(self, first: U64, limit: U64) -> None:
        """Blocks as the program sees them (under memlens's shim): block ``i``'s memory is
        ``[first[i], limit[i])`` -- the shim's pointer, past its record, and the requested
        size -- as memcheck counts it.  A value points at the block only inside that
        range (exactly at ``first`` for an empty block); a word belongs to it only when
        it lies wholly inside (memcheck scans a block's requested bytes only)."""
        self.first, self.limit = first, limit

    def release(self) -> None:
        """Drop the granule tables (the biggest part) once no value is left to resolve."""
        self.runs = []

    def resolve(self, values: U64, words: bool = False) -> tuple[I32, Bools]:
        """Block index of each value (-1: none) and whether it is a start pointer;
        ``words``: the values are addresses of words, to find the block holding each."""
        out = np.full(len(values), -1, np.int32)
        start = np.zeros(len(values), bool)
        w = self.word
        for run in self.runs:
            inside = np.flatnonzero((values >= np.uint64(run.base)) & (values < np.uint64(run.end)))
            if not len(inside):
                continue
            v = values[inside]
            shift = np.uint64(self.gran.bit_length() - 1)
            chunk = run.table[((v - np.uint64(run.base)) >> shift).view(np.int64)]
            # forward to the last chunk starting at or before v; each step only for
            # the values that still need one
            last = len(self.addr) - 1
            todo = np.arange(len(v))
            for _ in range(STEPS):
                nxt = np.minimum(chunk[todo] + 1, last)
                move = self.addr[nxt] <= v[todo]
                if not move.any():
                    break
                todo = todo[move]
                chunk[todo] = nxt[move]
            off = v - self.addr[chunk]
            tail = off < np.uint64(w)
            # the first word of a chunk is the previous chunk's last usable word
            owner = np.where(tail, chunk - 1, chunk)
            blk = np.where(owner >= 0, self.block_of[np.maximum(owner, 0)], -1)
            blk[(off >= np.uint64(w)) & (off < np.uint64(2 * w))] = -1
            if tail.any():  # a tail counts only when it is in the owner's usable memory
                t = np.flatnonzero(tail & (blk >= 0))
                blk[t[v[t] >= self.end[blk[t]]]] = -1
            out[inside] = blk
            start[inside] = (blk >= 0) & (off == np.uint64(2 * w))
        if len(self.mmapped):
            ms, me = self.start[self.mmapped], self.end[self.mmapped]
            i = np.searchsorted(ms, values, side="right").astype(np.int64) - 1
            ic = np.maximum(i, 0)
            hit = (i >= 0) & (values < me[ic]) & (values >= ms[ic])
            out[hit] = self.mmapped[i[hit]]
            start[hit] = values[hit] == ms[ic[hit]]
        if self.first is not None and self.limit is not None:
            return self._in_program_view(values, out, words)
        return out, start

    def _in_program_view(self, values: U64, out: I32, words: bool) -> tuple[I32, Bools]:
        assert self.first is not None and self.limit is not None
        b = np.maximum(out, 0)
        first, limit = self.first[b], self.limit[b]
        if words:
            ok = (values >= first) & (values + np.uint64(self.word) <= limit)
        else:
            ok = (values == first) | ((values >= first) & (values < limit))
        out = np.where(ok, out, -1).astype(np.int32)
        start: Bools = (out >= 0) & (values == first)
        return out, start

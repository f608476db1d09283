"""Ownership graph: pointers from block to block, roots from outside the heap.

As the collector does (``VERIFY_PTR``): a word is a pointer to an allocation
when it is block-aligned, inside an area's pool, and lands on a head block.
Every word of every allocation is tested at once; roots are the words of
saved memory outside the pools (static data, stacks, the C heap) that point at
heads.  Blocks no root reaches are reported unreachable -- what the next
collection would free.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.mpy.heap import MpyHeap
from memlens.mpy.layout import AT_HEAD, AT_MARK


@dataclass(slots=True)
class OwnershipGraph:
    """Edges between head indices (into ``heap.heads``), roots, reachability."""

    src: npt.NDArray[np.int64]
    dst: npt.NDArray[np.int64]
    src_word: npt.NDArray[np.int64]  # word index inside the source allocation
    root_address: npt.NDArray[np.uint64]  # where each root pointer lives
    root_target: npt.NDArray[np.int64]
    reachable: npt.NDArray[np.bool_]

    @property
    def unreachable(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(~self.reachable).astype(np.int64)


def _targets(heap: MpyHeap, values: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Head index for each value that points at a head block, else -1."""
    hd = heap.heads
    out = np.full(len(values), -1, dtype=np.int64)
    bsz = np.uint64(heap.block_size)
    aligned = (values % bsz) == 0
    for i, area in enumerate(heap.areas):
        lo, hi = np.uint64(area.pool_start), np.uint64(area.pool_end)
        inside = aligned & (values >= lo) & (values < hi)
        if not inside.any():
            continue
        sel = np.flatnonzero(inside)
        blocks = ((values[sel] - np.uint64(area.pool_start)) // bsz).astype(np.int64)
        st = heap.states[i][blocks]
        is_head = (st == AT_HEAD) | (st == AT_MARK)
        sel, blocks = sel[is_head], blocks[is_head]
        area_sel = np.flatnonzero(hd.area == i)
        pos = np.searchsorted(hd.block[area_sel], blocks)
        out[sel] = area_sel[pos]
    return out


def build(heap: MpyHeap) -> OwnershipGraph:
    hd = heap.heads
    ws = heap.word_size
    wpb = heap.block_size // ws
    srcs, dsts, words_at = [], [], []
    for i, area in enumerate(heap.areas):
        pool = heap.space.view(area.pool_start, area.pool_end - area.pool_start)
        assert pool is not None  # checked when the heads were read
        words = pool.view(heap.gather.dtype).astype(np.uint64)
        area_sel = np.flatnonzero(hd.area == i)
        if len(area_sel) == 0:
            continue
        # owner of every word: the head whose allocation covers it (or -1)
        starts = hd.block[area_sel] * wpb
        ends = starts + hd.blocks[area_sel] * wpb
        word_idx = np.arange(len(words), dtype=np.int64)
        pos = np.searchsorted(starts, word_idx, side="right") - 1
        owned = (pos >= 0) & (word_idx < ends[np.maximum(pos, 0)])
        owned_idx = word_idx[owned]
        tgt = _targets(heap, words[owned_idx])
        hit = tgt >= 0
        srcs.append(area_sel[pos[owned_idx[hit]]])
        dsts.append(tgt[hit])
        words_at.append(owned_idx[hit] - starts[pos[owned_idx[hit]]])
    src = np.concatenate(srcs) if srcs else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(dsts) if dsts else np.zeros(0, dtype=np.int64)
    src_word = np.concatenate(words_at) if words_at else np.zeros(0, dtype=np.int64)
    root_addr, root_tgt = _roots(heap)
    reach = _reach(len(hd.address), src, dst, root_tgt)
    return OwnershipGraph(src, dst, src_word, root_addr, root_tgt, reach)


def _roots(heap: MpyHeap) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    ws = heap.word_size
    addrs, tgts = [], []
    pools = [(a.pool_start, a.pool_end) for a in heap.areas]
    for base, w in heap.gather.aligned_words():
        tgt = _targets(heap, w)
        idx = np.flatnonzero(tgt >= 0)
        where = np.uint64(base) + idx.astype(np.uint64) * np.uint64(ws)
        outside = np.ones(len(idx), dtype=bool)
        for lo, hi in pools:
            outside &= ~((where >= np.uint64(lo)) & (where < np.uint64(hi)))
        addrs.append(where[outside])
        tgts.append(tgt[idx[outside]])
    if not addrs:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    return np.concatenate(addrs), np.concatenate(tgts)


def _reach(
    n: int, src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64], roots: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Breadth-first marking over a CSR adjacency, a frontier at a time."""
    seen = np.zeros(n, dtype=bool)
    if n == 0:
        return seen
    order = np.argsort(src, kind="stable")
    s_sorted, d_sorted = src[order], dst[order]
    offsets = np.searchsorted(s_sorted, np.arange(n + 1))
    frontier = np.unique(roots)
    seen[frontier] = True
    while len(frontier):
        lo, hi = offsets[frontier], offsets[frontier + 1]
        counts = hi - lo
        if counts.sum() == 0:
            break
        out_start = np.cumsum(np.concatenate(([0], counts[:-1])))
        idx = np.repeat(lo - out_start, counts) + np.arange(counts.sum())
        nxt = np.unique(d_sorted[idx])
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return seen


FANOUT = 8  # neighbours of each allocation taken in the first breadth-first pass


def select_nodes(
    graph: OwnershipGraph, n: int, limit: int, fanout: int = FANOUT
) -> npt.NDArray[np.bool_]:
    """At most ``limit`` of ``n`` allocations for a picture, connected ones first.

    Breadth first from the roots (what a root holds, then what that holds), then
    from the other allocations that have edges (garbage with structure), then
    the isolated ones: a pruned graph keeps its edges instead of being the
    largest blocks with nothing between them.  Each of the three goes in passes:
    the first takes at most ``fanout`` neighbours of each allocation, each
    next pass four times as many, so a list of 6000 objects shows a few of them
    and what they hold, and the rest of the budget goes to the other structures
    rather than to 1500 siblings.  Edges are taken both ways (out-edges first),
    from one sorted (CSR) table; only the kept nodes are visited in Python.
    """
    keep = np.zeros(n, dtype=bool)
    if n <= limit:
        keep[:] = True
        return keep
    a = np.concatenate([graph.src, graph.dst])
    b = np.concatenate([graph.dst, graph.src])
    order = np.argsort(a, kind="stable")
    neighbours = b[order].tolist()
    offsets = np.searchsorted(a[order], np.arange(n + 1))
    degree = offsets[1:] - offsets[:-1]
    widest = int(degree.max()) if n else 0
    phases = (np.unique(graph.root_target), np.flatnonzero(degree > 0), np.arange(n))
    left = limit
    for starts in phases:
        cap = fanout
        while left > 0:
            left = _breadth_first(starts.tolist(), neighbours, offsets.tolist(), cap, keep, left)
            if cap >= widest:
                break
            cap *= 4
        if left == 0:
            break
    return keep


def _breadth_first(
    starts: list[int],
    neighbours: list[int],
    offsets: list[int],
    cap: int,
    keep: npt.NDArray[np.bool_],
    left: int,
) -> int:
    """One pass: from each start, breadth first over the first ``cap`` neighbours of
    each allocation, keeping new ones until ``left`` more are kept; returns what is
    left of the budget."""
    seen = np.zeros(len(keep), dtype=bool)
    for start in starts:
        if left == 0:
            break
        if seen[start]:
            continue
        seen[start] = True
        if not keep[start]:
            keep[start] = True
            left -= 1
        queue = deque([start])
        while queue and left > 0:
            u = queue.popleft()
            lo = offsets[u]
            for nxt in neighbours[lo : min(lo + cap, offsets[u + 1])]:
                if seen[nxt]:
                    continue
                seen[nxt] = True
                queue.append(nxt)
                if not keep[nxt]:
                    keep[nxt] = True
                    left -= 1
                    if left == 0:
                        break
    return left

"""Leaks by reachability, classified as valgrind's memcheck classifies them.

Blocks are the in-use chunks (not malloc's own, not free ones, not tcache
entries).  A word is a pointer to a block when its value lies in the block's
user memory: a *start* pointer when it is the address ``malloc`` returned,
an *interior* pointer otherwise.  Then, as memcheck's ``mc_leakcheck.c``
does it:

* **still reachable**: reached from a root by a chain of start pointers;
* **possibly lost**: reached from the roots only through some interior pointer;
* **definitely lost** / **indirectly lost**: not reached.  Unreached blocks are
  visited in address order; each one not yet claimed leads a *clique* and
  claims every unreached block it reaches (start or interior pointer) as
  indirectly lost, an earlier leader included; the leaders left are
  definitely lost.  A lost cycle thus has one definitely lost block (its
  lowest address) and the rest indirectly lost, as memcheck reports it.

Everything over words and edges is numpy; the clique pass is a Python loop
over the unreached blocks only.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.glibc.chunktable import HeapWalk, State
from memlens.glibc.present import present_pieces
from memlens.glibc.resolve import Resolver
from memlens.glibc.roots import find_roots, range_words
from memlens.glibc.wordsize import with_target_words

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Idx = npt.NDArray[np.integer[Any]]  # block indices: int32 while there are < 2**31 blocks
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]
SLICE = 1 << 22  # words compared at a time


class Leak(enum.IntEnum):
    REACHABLE = 0
    POSSIBLY = 1
    INDIRECTLY = 2
    DEFINITELY = 3


LEAK_NAMES = {Leak.DEFINITELY: "definitely lost", Leak.INDIRECTLY: "indirectly lost",
              Leak.POSSIBLY: "possibly lost", Leak.REACHABLE: "still reachable"}  # fmt: skip


@dataclass(slots=True)
class Reachability:
    blocks: Resolver  # the blocks: start, end, rows (chunk-table rows), in address order
    leak: U8  # a Leak per block
    roots_scanned: int = 0  # bytes of root memory scanned
    heap_scanned: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self, sizes: U64, counted: Bools | None = None) -> dict[str, tuple[int, int]]:
        """Class name -> (blocks, bytes); ``sizes`` per block, ``counted`` the blocks to count
        (default all)."""
        out = {}
        for k, name in LEAK_NAMES.items():
            m = self.leak == k
            if counted is not None:
                m &= counted
            out[name] = (int(m.sum()), int(sizes[m].sum()))
        return out


def _edges(snapshot: Snapshot, walk: HeapWalk, blocks: Resolver) -> tuple[Idx, Idx, Bools, int]:
    """(source block, target block, start pointer?) of every pointer in a block."""
    space = snapshot.space
    w = walk.layout.word
    lo, hi = np.uint64(blocks.start[0]), np.uint64(blocks.end[-1])
    # heaps up to their top chunk (its body is free and, live, maybe never touched)
    ranges = [(s, min(e, a.top) if s <= a.top < e else e) for a in walk.arenas for s, e in a.heaps]
    for i in blocks.mmapped.tolist():
        ranges += present_pieces(snapshot, int(blocks.start[i]), int(blocks.end[i]))
    srcs: list[Idx] = []
    dsts: list[Idx] = []
    starts: list[Bools] = []
    scanned = 0
    for s, e in ranges:
        for base, words in range_words(space, s, e):
            scanned += len(words) * w
            for k in range(0, len(words), SLICE):
                vals = words[k:k + SLICE].astype(np.uint64, copy=False)
                pos = np.flatnonzero((vals >= lo) & (vals < hi))
                if not len(pos):
                    continue
                where = pos.astype(np.uint64) * np.uint64(w) + np.uint64(base + k * w)
                src, _ = blocks.resolve(where, words=True)
                dst, is_start = blocks.resolve(vals[pos])
                keep = (src >= 0) & (dst >= 0)
                srcs.append(src[keep])
                dsts.append(dst[keep])
                starts.append(is_start[keep])
    if not srcs:
        z = np.zeros(0, np.int32)
        return z, z, np.zeros(0, bool), scanned
    src_all = np.concatenate(srcs)
    del srcs
    dst_all = np.concatenate(dsts)
    del dsts
    return src_all, dst_all, np.concatenate(starts), scanned


def _csr(n: int, src: Idx, dst: Idx) -> tuple[Idx, Idx]:
    indptr: Idx = np.zeros(n + 1, np.int32 if len(src) < 1 << 31 else np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    if len(src) < 2 or bool(np.all(src[1:] >= src[:-1])):
        return indptr, dst  # the scan found edges in source order already
    return indptr, dst[np.argsort(src, kind="stable")]


def closure(seeds: Idx, indptr: Idx, indices: Idx, visited: Bools) -> None:
    """Mark everything reachable from ``seeds`` in ``visited`` (seeds included)."""
    owner = np.zeros(len(visited), np.int32)  # dedup by "last writer wins", no sort

    def fresh(nodes: Idx) -> Idx:
        nodes = nodes[~visited[nodes]]
        order = np.arange(len(nodes), dtype=np.int32)
        owner[nodes] = order
        nodes = nodes[owner[nodes] == order]
        visited[nodes] = True
        return nodes

    frontier = fresh(seeds)
    while len(frontier):
        lo, hi = indptr[frontier], indptr[frontier + 1]
        counts = hi - lo
        total = int(counts.sum())
        if not total:
            break
        offsets = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
        frontier = fresh(indices[offsets])


def _root_targets(snapshot: Snapshot, walk: HeapWalk, blocks: Resolver,
                  not_roots: Sequence[tuple[int, int]] = ()
                  ) -> tuple[Idx, Idx, int, list[str]]:  # fmt: skip
    exclude = [*not_roots, *(hp for a in walk.arenas for hp in a.heaps)]
    # malloc's own state is no root: an arena's top points just past the last block
    # (into its usable tail), and its bins at free chunks
    exclude += [(a.address & ~(walk.layout.heap_max - 1), a.address + walk.layout.arena_size)
                for a in walk.arenas if not a.main]  # fmt: skip
    exclude += [(a.address, a.address + walk.layout.arena_size) for a in walk.arenas if a.main]
    mm = np.flatnonzero(walk.chunks.state == State.MMAPPED)
    exclude += [(int(walk.chunks.address[i]), int(walk.chunks.address[i] + walk.chunks.size[i]))
                for i in mm.tolist()]  # fmt: skip
    roots = find_roots(snapshot, exclude)
    lo, hi = np.uint64(blocks.start[0]), np.uint64(blocks.end[-1])
    found_start: list[Idx] = []
    found_inner: list[Idx] = []
    scanned = 0

    def take(vals: U64) -> None:
        vals = vals[(vals >= lo) & (vals < hi)]
        idx, is_start = blocks.resolve(vals)
        found_start.append(idx[(idx >= 0) & is_start])
        found_inner.append(idx[(idx >= 0) & ~is_start])

    take(roots.registers)
    for s, e, _ in roots.ranges:
        for _, words in range_words(snapshot.space, s, e):
            scanned += len(words) * walk.layout.word
            for k in range(0, len(words), SLICE):
                take(words[k:k + SLICE].astype(np.uint64, copy=False))
    return (np.unique(np.concatenate(found_start)), np.unique(np.concatenate(found_inner)),
            scanned, roots.notes)  # fmt: skip


def reachability(snapshot: Snapshot, walk: HeapWalk, blocks: Resolver | None = None,
                 not_roots: Sequence[tuple[int, int]] = ()) -> Reachability:  # fmt: skip
    """Classify every in-use block of ``walk`` as memcheck would (``blocks``: its
    :class:`Resolver`, when the caller made it to set where start pointers are;
    ``not_roots``: memory that is not the program's, e.g. the shim's table)."""
    snapshot = with_target_words(snapshot)
    if blocks is None:
        blocks = Resolver(walk)
    n = len(blocks)
    if n == 0:
        return Reachability(blocks, np.zeros(0, np.uint8))
    root_start, root_inner, root_bytes, notes = _root_targets(snapshot, walk, blocks,
                                                               not_roots)
    src, dst, is_start, heap_bytes = _edges(snapshot, walk, blocks)
    blocks.release()
    # still reachable: start pointers only, from the roots
    s_ptr, s_idx = _csr(n, src[is_start], dst[is_start])
    reachable = np.zeros(n, bool)
    closure(root_start, s_ptr, s_idx, reachable)
    # possibly lost: any pointer from what is reachable or possible
    a_ptr, a_idx = _csr(n, src, dst)
    from_reachable = dst[reachable[src] & ~is_start]
    possible = reachable.copy()
    closure(np.concatenate([root_inner, from_reachable]), a_ptr, a_idx, possible)
    leak = np.full(n, Leak.DEFINITELY, np.uint8)
    leak[possible] = Leak.POSSIBLY
    leak[reachable] = Leak.REACHABLE
    _cliques(leak, src, dst)
    return Reachability(blocks, leak, root_bytes, heap_bytes, notes)


def _cliques(leak: U8, src: Idx, dst: Idx) -> None:
    """Split the unreached blocks into definitely and indirectly lost (see above)."""
    lost = leak == Leak.DEFINITELY
    keep = lost[src] & lost[dst] & (src != dst)
    if not keep.any():
        return
    s, d = src[keep], dst[keep]
    order = np.argsort(s, kind="stable")
    s, d = s[order].tolist(), d[order].tolist()
    out: dict[int, list[int]] = {}
    for a, b in zip(s, d, strict=True):
        out.setdefault(a, []).append(b)
    indirect: set[int] = set()
    for leader in np.flatnonzero(lost).tolist():
        if leader in indirect or leader not in out:
            continue
        stack = [leader]
        while stack:
            at = stack.pop()
            for b in out.get(at, ()):
                if b != leader and b not in indirect:
                    indirect.add(b)
                    stack.append(b)
    if indirect:
        leak[np.fromiter(indirect, np.int64, len(indirect))] = Leak.INDIRECTLY

"""The glibc malloc walk: arenas, their heaps, every chunk classified.

Public API::

    walk_heap(snapshot) -> HeapWalk     # raises NoHeapError when no arena is found

Order of work: find the main arena (symbols, else structure), follow the
arena ring, walk each arena's heaps chunk by chunk (main: from the brk start
to the end of ``top``; thread arenas: each ``heap_info`` of the chain, oldest
first), find the mmapped chunks, then follow every free list and mark what
they hold.  Every loop is bounded by what was walked, never by a count the
target claims.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from memlens.core.addrspace import AddressSpace
from memlens.core.snapshot import Snapshot
from memlens.errors import MemlensError
from memlens.glibc.arenas import arena_ring, find_main_arena
from memlens.glibc.chunks import Run, check_prev_size, in_use_bits, walk_run
from memlens.glibc.chunktable import Arena, ChunkTable, Finding, HeapWalk, State
from memlens.glibc.layout import TCACHE_BINS, Layout
from memlens.glibc.lists import (
    Listed,
    detect_safe_linking,
    follow_bins,
    follow_fastbins,
    follow_tcache,
)
from memlens.glibc.mmapped import find_mmapped
from memlens.glibc.tcache import looks_like_tcache
from memlens.glibc.wordsize import with_target_words

MAX_HEAPS = 1 << 16  # heap_info blocks per arena (64 MiB each: 4 TiB)
_KINDS = {"tcache": State.TCACHE, "fastbin": State.FASTBIN, "unsorted": State.UNSORTED,
          "smallbin": State.SMALLBIN, "largebin": State.LARGEBIN}  # fmt: skip


class NoHeapError(MemlensError):
    """No glibc malloc arena could be found in the target."""


def _align_chunk(layout: Layout, address: int) -> int:
    """The first chunk at or after ``address`` whose user memory is aligned."""
    return address + (-(address + layout.header)) % layout.align


def tcache_chunk_size(layout: Layout, wide: bool) -> int:
    request = TCACHE_BINS * (2 if wide else 1) + TCACHE_BINS * layout.word
    return max(layout.min_chunk, (request + layout.word + layout.align - 1) & ~(layout.align - 1))


def _word(space: AddressSpace, address: int, what: str) -> int:
    value = space.word(address)
    if value is None:
        raise NoHeapError(f"{what} at {address:#x} is not readable")
    return value


def _heap_chain(space: AddressSpace, layout: Layout, arena: int, top: int,
                findings: list[Finding]) -> list[int]:  # fmt: skip
    """A thread arena's ``heap_info`` blocks, oldest first."""
    chain: list[int] = []
    h = top & ~(layout.heap_max - 1)
    while h and len(chain) < MAX_HEAPS:
        if space.word(h) != arena:
            findings.append(Finding("heap_info", h,
                                    f"heap_info {h:#x}: ar_ptr is not its arena {arena:#x}"))
            break
        chain.append(h)
        h = space.word(h + layout.word) or 0
        if h in chain or h % layout.heap_max:
            findings.append(Finding("heap_info", chain[-1],
                                    f"heap_info {chain[-1]:#x}: bad prev link {h:#x}"))  # fmt: skip
            break
    chain.reverse()
    return chain


def _runs_of_arena(space: AddressSpace, layout: Layout, arena: int, main: bool, top: int,
                   top_end: int, sbrk_base: int | None,
                   findings: list[Finding]) -> list[Run]:  # fmt: skip
    if main:
        start = sbrk_base
        if start is None:
            region = space.region_at(top)
            start = region.start if region else top
        return [walk_run(space, layout, _align_chunk(layout, start), top_end, findings, top)]
    runs = []
    chain = _heap_chain(space, layout, arena, top, findings)
    if not chain:
        return [walk_run(space, layout, top, top_end, findings, top)]
    header = arena - chain[0]  # sizeof(heap_info): the arena follows it in the first heap
    for k, h in enumerate(chain):
        size = space.word(h + 2 * layout.word) or 0
        if k == 0:
            start = _align_chunk(layout, arena + layout.arena_size)
        else:
            start = _align_chunk(layout, h + header)
        end = top_end if h <= top < h + layout.heap_max else h + min(size, layout.heap_max)
        runs.append(walk_run(space, layout, start, end, findings, top))
    return runs


def walk_heap(snapshot: Snapshot) -> HeapWalk:
    """Walk glibc's heap in ``snapshot``.

    Raises:
        NoHeapError: no arena found (not glibc, or libc's data not in the dump).
    """
    snapshot = with_target_words(snapshot)
    space = snapshot.space
    found, notes = find_main_arena(snapshot)
    if found is None:
        raise NoHeapError("no glibc malloc arena found (no main_arena symbol and no"
                          " malloc_state in libc's data)" + (f"; {notes[0]}" if notes else ""))
    layout = found.layout
    findings: list[Finding] = []
    ring, problem = arena_ring(space, layout, found.main_arena)
    if problem:
        findings.append(Finding("arena ring", found.main_arena, problem))
    arenas: list[Arena] = []
    runs: list[tuple[int, Run]] = []
    for a in ring:
        index = len(arenas)
        if index and space.word(a + layout.top) is None:
            findings.append(Finding("arena", a, f"arena {a:#x} (in the next ring) is not"
                                    " readable: its chunks are not listed"))  # fmt: skip
            continue
        top = _word(space, a + layout.top, "arena top")
        top_size = (space.word(top + layout.word) or 0) & ~7
        system_mem = space.word(a + layout.system_mem) or 0
        if top_size > system_mem:  # glibc: "malloc(): corrupted top size"
            findings.append(Finding("top size", top + layout.word,
                                    f"arena {a:#x}: top {top:#x} has size {top_size:#x},"
                                    f" more than the arena's system_mem {system_mem:#x}",
                                    chunk=top))  # fmt: skip
        sbrk = found.mp.sbrk_base if found.mp and index == 0 else None
        mine = _runs_of_arena(space, layout, a, index == 0, top, top + top_size, sbrk, findings)
        for r in mine:
            check_prev_size(r, layout, findings)
            runs.append((index, r))
        heaps = tuple((r.start, r.end) for r in mine)
        arenas.append(Arena(index, a, index == 0, top, top_size, system_mem, heaps))
    walk = HeapWalk(layout, found.method, arenas, ChunkTable.concat([]), found.mp,
                    findings, notes)  # fmt: skip
    walk.chunks = _classify(snapshot, walk, runs)
    walk.complete = not any(r.stopped for _, r in runs) and not any(
        f.check in ("arena", "arena ring", "heap_info") for f in findings)
    walk.findings = [_with_words(space, layout, f) for f in walk.findings]
    return walk


CONTEXT_WORDS = 8


def _with_words(space: AddressSpace, layout: Layout, f: Finding) -> Finding:
    """The words from the chunk before (else the chunk itself) on: what a reader of
    a core that died in free() wants to see first.  Unreadable words are left out."""
    at = f.previous if f.previous is not None else f.chunk
    if at is None:
        return f
    words = []
    for k in range(CONTEXT_WORDS):
        value = space.word(at + k * layout.word)
        if value is None:
            break
        words.append(value)
    return replace(f, words=tuple(words))


def _classify(snapshot: Snapshot, walk: HeapWalk, runs: list[tuple[int, Run]]) -> ChunkTable:
    space, layout, findings = snapshot.space, walk.layout, walk.findings
    parts = []
    for index, r in runs:
        n = len(r.address)
        state = np.where(in_use_bits(r), State.IN_USE, State.FREE_UNBINNED).astype(np.uint8)
        parts.append(ChunkTable(r.address, r.size, state, np.full(n, index, np.int16),
                                np.full(n, -1, np.int16)))  # fmt: skip
    exclude = [(r.start, r.end) for _, r in runs]
    exclude += [(a.address & ~(layout.heap_max - 1), a.address + layout.arena_size)
                for a in walk.arenas if not a.main]  # fmt: skip
    mm = find_mmapped(snapshot, layout, exclude)
    if mm:
        parts.append(ChunkTable(
            np.array([m[0] for m in mm], np.uint64), np.array([m[1] for m in mm], np.uint64),
            np.full(len(mm), State.MMAPPED, np.uint8), np.full(len(mm), -1, np.int16),
            np.full(len(mm), -1, np.int16)))  # fmt: skip
        walk.mmapped_corrections = sum(m[2] for m in mm)
    if walk.mp is not None:
        found_bytes = sum(m[1] + m[2] for m in mm)
        if (walk.mp.n_mmaps, walk.mp.mmapped_mem) != (len(mm), found_bytes):
            walk.notes.append(f"mp_ counts {walk.mp.n_mmaps} mmapped chunks of"
                              f" {walk.mp.mmapped_mem} bytes; the scan found {len(mm)} of"
                              f" {found_bytes} (a mapping merged with another, or not dumped)")
    table = ChunkTable.concat(parts)
    _mark_allocator(space, walk, table, runs)
    _mark_lists(space, walk, table)
    for a in walk.arenas:
        hit = np.flatnonzero(table.address == np.uint64(a.top))
        if len(hit):
            table.state[hit] = State.TOP
        else:
            findings.append(Finding("top", a.top, f"arena {a.address:#x}: top {a.top:#x}"
                                    " is not where the walk ended"))  # fmt: skip
    for i in np.flatnonzero(table.state == State.FREE_UNBINNED)[:100].tolist():
        at = int(table.address[i])
        findings.append(Finding("free chunk not in a bin", at,
                                f"chunk {at:#x} (size {int(table.size[i]):#x}) is free by its"
                                " neighbour's PREV_INUSE bit but in no free list", chunk=at))
    return table


def _mark_allocator(space: AddressSpace, walk: HeapWalk, table: ChunkTable,
                    runs: list[tuple[int, Run]]) -> None:  # fmt: skip
    """Fenceposts and tcache_perthread_structs are malloc's own chunks."""
    layout = walk.layout
    wide, narrow = tcache_chunk_size(layout, True), tcache_chunk_size(layout, False)
    firsts = {int(r.address[0]) for _, r in runs if len(r.address)}
    walk.tcaches = []
    walk.tcache_wide = True
    sized = (table.size == np.uint64(wide)) | (table.size == np.uint64(narrow))
    cands = np.flatnonzero(sized & (table.state == State.IN_USE))
    for i in cands.tolist():
        at = int(table.address[i])
        if at in firsts:
            table.state[i] = State.ALLOCATOR
            walk.tcaches.append(at + layout.header)
            walk.tcache_wide = int(table.size[i]) == wide
    # threads sharing an arena have their tcache anywhere in it: known by content
    rest = cands[table.state[cands] == State.IN_USE]
    rest = rest[table.size[rest] == np.uint64(wide if walk.tcache_wide else narrow)]
    if len(rest):
        order = np.argsort(table.address, kind="stable")
        yes = looks_like_tcache(space, layout, table.address[order], table.size[order],
                                table.address[rest], walk.tcache_wide)  # fmt: skip
        table.state[rest[yes]] = State.ALLOCATOR
        walk.tcaches += [int(a) + layout.header for a in table.address[rest[yes]].tolist()]
    fence = (table.size == 0) | (table.size == np.uint64(2 * layout.word))
    table.state[fence & (table.arena >= 0)] = State.ALLOCATOR


def _mark_lists(space: AddressSpace, walk: HeapWalk, table: ChunkTable) -> None:
    layout, findings = walk.layout, walk.findings
    limit = len(table) + 1
    links: list[tuple[int, int]] = []
    for t in walk.tcaches:
        entries = t + TCACHE_BINS * (2 if walk.tcache_wide else 1)
        for i in range(TCACHE_BINS):
            e = space.word(entries + i * layout.word)
            if e:
                links.append((e, -layout.word))
    for a in walk.arenas:
        for i in range(layout.nfastbins):
            c = space.word(a.address + layout.fastbins + i * layout.word)
            if c:
                links.append((c + layout.header, layout.word))
    protected = detect_safe_linking(space, layout, links)
    walk.safe_linking = protected
    listed = Listed(budget=4 * limit + 4096)
    for t in walk.tcaches:
        follow_tcache(space, layout, t, walk.tcache_wide, limit, bool(protected), listed,
                      findings)  # fmt: skip
    for a in walk.arenas:
        follow_fastbins(space, layout, a.address, limit, bool(protected), listed, findings)
        follow_bins(space, layout, a.address, limit, listed, findings)
    if not listed.kind:
        return
    addrs = np.array(list(listed.kind), np.uint64)
    order = np.argsort(table.address, kind="stable")
    pos = np.searchsorted(table.address[order], addrs)
    pos_c = np.minimum(pos, max(len(table) - 1, 0))
    hit = (pos < len(table)) & (table.address[order][pos_c] == addrs if len(table)
                                else np.zeros(len(addrs), bool))  # fmt: skip
    kinds = list(listed.kind.values())
    for k in np.flatnonzero(~hit)[:100].tolist():
        at = int(addrs[k])
        findings.append(Finding("listed chunk not walked", at,
                                f"{kinds[k][0]} {kinds[k][1]} lists chunk {at:#x}, which is not"
                                " a chunk of the walked heap", chunk=at))  # fmt: skip
    for k in np.flatnonzero(hit).tolist():
        row = int(order[pos_c[k]])
        kind, index = kinds[k]
        state = _KINDS[kind]
        if state in (State.UNSORTED, State.SMALLBIN, State.LARGEBIN):
            if table.state[row] != State.FREE_UNBINNED:
                at = int(addrs[k])
                findings.append(Finding("binned chunk in use", at,
                                        f"{kind} {index} lists chunk {at:#x}, but the next"
                                        " chunk's PREV_INUSE bit says it is in use", chunk=at))
        elif table.state[row] != State.IN_USE:
            at = int(addrs[k])
            findings.append(Finding("listed chunk state", at,
                                    f"{kind} {index} lists chunk {at:#x}, whose neighbour says"
                                    " it is free (tcache and fastbin chunks keep PREV_INUSE)",
                                    chunk=at))  # fmt: skip
        table.state[row] = state
        table.bin[row] = index
    if listed.budget < 0:
        findings.append(Finding("free lists", 0, "the free lists run longer than the heap has"
                                " chunks: following them stopped"))  # fmt: skip

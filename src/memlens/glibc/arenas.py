"""Finding glibc's arenas: through libc's symbols, else by their structure.

*Symbols*: ``main_arena`` and ``mp_`` are local symbols of libc; they are in
``.symtab`` of libc's separate debug file (Debian's libc6-dbg, found by build
id) or of an unstripped libc.  *Structure*: a ``malloc_state`` in libc's
writable data has most of its 127 bins empty, and an empty bin points at
itself (``bin->fd == bin->bk == bin``); the candidate with the most such bins
whose ``top`` lies in mapped memory wins.  Thread arenas follow from the main
arena's ``next`` ring either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memlens.core.addrspace import AddressSpace
from memlens.core.snapshot import Snapshot
from memlens.errors import MemlensError
from memlens.glibc.layout import MP_FIELDS, NBINS, Layout, MallocPar, layouts_for

MAX_ARENAS = 4096  # glibc's arena_max default is 8 x cores; far below this


@dataclass(frozen=True, slots=True)
class Found:
    """The main arena's address, the layout that fits it, and how it was found."""

    main_arena: int
    layout: Layout
    method: str
    mp: MallocPar | None


def self_linked_bins(space: AddressSpace, layout: Layout, arena: int) -> int:
    """How many of the arena's bins are empty, i.e. point at themselves (-1: unreadable)."""
    count = 2 * NBINS - 2
    try:
        words = space.words(arena + layout.bins, count)
    except MemlensError:
        return -1
    own = (np.arange(0, count, 2, dtype=np.uint64) * np.uint64(layout.word)
           + np.uint64(arena + layout.bins - 2 * layout.word))  # fmt: skip
    return int(((words[0::2] == own) & (words[1::2] == own)).sum())


def plausible_arena(space: AddressSpace, layout: Layout, arena: int) -> bool:
    """What any live ``malloc_state`` satisfies: ``top`` is a readable, aligned chunk
    no bigger than ``system_mem``, a whole number of pages, and ``next`` is a
    mapped arena (itself when there is one)."""
    top = space.word(arena + layout.top)
    system_mem = space.word(arena + layout.system_mem)
    nxt = space.word(arena + layout.next)
    if top is None or system_mem is None or nxt is None or not system_mem or system_mem % 4096:
        return False
    if (top + layout.header) % layout.align or nxt % layout.word:
        return False
    top_size = space.word(top + layout.word)
    if top_size is None or (top_size & ~7) > system_mem:
        return False
    for _ in range(64):  # the next ring comes back to this arena
        if nxt == arena:
            return True
        if nxt is None or nxt % layout.word or space.region_at(nxt) is None:
            return False
        nxt = space.word(nxt + layout.next)
    return False


def best_layout(space: AddressSpace, arena: int) -> tuple[Layout, int]:
    """The arena variant under which the most bins are self-linked."""
    scored = [(self_linked_bins(space, lay, arena), lay) for lay in layouts_for(space.word_size)]
    score, layout = max(scored, key=lambda s: s[0])
    return layout, score


def _read_mp(space: AddressSpace, address: int, size: int | None) -> MallocPar | None:
    fields = MP_FIELDS.get((space.word_size, size or 0))
    if fields is None:
        return None
    n_at, mem_at, base_at = fields
    try:
        return MallocPar(
            n_mmaps=space.u32(address + n_at),
            mmapped_mem=space.pointer(address + mem_at),
            sbrk_base=space.pointer(address + base_at),
            trim_threshold=space.pointer(address),
            top_pad=space.pointer(address + space.word_size),
            mmap_threshold=space.pointer(address + 2 * space.word_size),
        )
    except MemlensError:
        return None


def by_symbols(snapshot: Snapshot) -> tuple[Found | None, list[str]]:
    """``main_arena`` (and ``mp_``) from the symbols of libc or, for a static
    program, of any module that defines them."""
    from memlens.symbols.chain import symbolizer_for

    notes: list[str] = []
    sym = symbolizer_for(snapshot, chain=("symtab",))
    order = sorted(range(len(sym.modules)),
                   key=lambda i: not sym.modules[i].module.name.startswith("libc"))  # fmt: skip
    for i in order:
        found, module = sym.modules[i], sym.modules[i].module
        if module.load_bias is None:
            continue
        ms = sym.module_symbols(i)
        table = ms.symtab()
        if table is None:
            continue
        arena = table.find("main_arena")
        if arena is None:
            if module.name.startswith("libc"):
                notes.append(f"{module.name}: no main_arena symbol (no debug file found)")
            continue
        address = arena.address + module.load_bias
        layout, score = best_layout(snapshot.space, address)
        if score < 0:
            notes.append(f"main_arena at {address:#x} is not readable")
            return None, notes
        mp_sym = table.find("mp_")
        mp = None
        if mp_sym is not None:
            mp = _read_mp(snapshot.space, mp_sym.address + module.load_bias, mp_sym.size)
        where = ms.debug_file or found.file or module.path
        return Found(address, layout, f"symbols: main_arena in {where}", mp), notes
    return None, notes


def by_structure(snapshot: Snapshot) -> Found | None:
    """A ``malloc_state`` found in libc's (else any module's) writable data."""
    space = snapshot.space
    w = space.word_size
    # a module's writable data: its file-backed pages and the anonymous .bss tail after them
    ordered = sorted(snapshot.regions, key=lambda r: r.start)
    owner: dict[int, str] = {}
    for prev, r in zip([None, *ordered[:-1]], ordered, strict=True):
        if r.path:
            owner[r.start] = r.path
        elif prev is not None and prev.end == r.start and prev.start in owner:
            owner[r.start] = owner[prev.start]
    regions = [r for r in ordered if r.perms.write and r.perms.read and r.start in owner]
    regions.sort(key=lambda r: "libc" not in owner[r.start])
    best: tuple[int, int, Layout] | None = None
    for region in regions:
        view = space.view(region.start, region.size - region.size % w)
        if view is None:
            continue
        words = view.view(np.uint64 if w == 8 else np.uint32).astype(np.uint64)
        addrs = np.arange(len(words), dtype=np.uint64) * np.uint64(w) + np.uint64(region.start)
        # fd and bk of an empty bin both hold the bin's address (= &fd - 2 words)
        own = addrs - np.uint64(2 * w)
        hits = np.flatnonzero((words[:-1] == own[:-1]) & (words[1:] == own[:-1]))
        if len(hits) < NBINS // 2:
            continue
        for layout in layouts_for(w):
            # every hit gives the arena if it was bin 1; try the first hits only
            for h in hits[:8].tolist():
                for k in range(0, 2 * NBINS - 2, 2):
                    arena = int(addrs[h]) - layout.bins - k * w
                    if arena < region.start:
                        break
                    if not plausible_arena(space, layout, arena):
                        continue
                    score = self_linked_bins(space, layout, arena)
                    if best is None or score > best[0]:
                        best = (score, arena, layout)
        if best is not None and best[0] >= NBINS // 2:
            break
    if best is None or best[0] < NBINS // 2:
        return None
    score, arena, layout = best
    return Found(arena, layout, f"structure: {score} self-linked bins at {arena:#x}", None)


def find_main_arena(snapshot: Snapshot) -> tuple[Found | None, list[str]]:
    """Symbols first, structure second."""
    found, notes = by_symbols(snapshot)
    if found is None:
        found = by_structure(snapshot)
    return found, notes


def arena_ring(space: AddressSpace, layout: Layout, main: int) -> tuple[list[int], str | None]:
    """The arenas in ``main``'s ``next`` ring, main first (bounded; a broken ring is reported)."""
    out = [main]
    seen = {main}
    at = main
    for _ in range(MAX_ARENAS):
        nxt = space.word(at + layout.next)
        if nxt is None:
            return out, f"arena {at:#x}: next pointer unreadable"
        if nxt == main:
            return out, None
        if nxt in seen:
            return out, f"arena {at:#x}: next ring loops back to {nxt:#x}, not to main_arena"
        if nxt % layout.word or space.region_at(nxt) is None:
            return out, f"arena {at:#x}: next pointer {nxt:#x} is not mapped"
        out.append(nxt)
        seen.add(nxt)
        at = nxt
    return out, f"more than {MAX_ARENAS} arenas: stopped"

"""A glibc heap's usage: in-use bytes by size class, free bytes by list,
fragmentation per arena, top, and what ``malloc_trim(0)`` could give back.

``malloc_trim(0)`` (glibc 2.8+, ``mtrim``) consolidates the fastbins, then
returns to the kernel (``MADV_DONTNEED``) every whole page inside a free
chunk past its list links, and shrinks the main heap's top (``systrim``) to
less than a page.  Here that is estimated from the chunks as they are: free
chunks' whole pages plus the top's whole pages past ``MINSIZE``; pages
already given back (not resident) are counted too, hence "up to".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memlens.glibc.chunktable import HeapWalk, State

PAGE = 4096
FREE_LISTS = (State.TCACHE, State.FASTBIN, State.UNSORTED, State.SMALLBIN, State.LARGEBIN,
              State.TOP)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ArenaUsage:
    address: int
    main: bool
    system_mem: int
    in_use: int
    free: int  # bins + fastbins + tcache + top
    largest_free: int
    top: int
    trimmable: int

    @property
    def fragmentation(self) -> float:
        """1 - largest free run / all free: 0 when free memory is one piece."""
        return 0.0 if self.free == 0 else 1.0 - self.largest_free / self.free


@dataclass(frozen=True, slots=True)
class HeapUsage:
    by_size: list[tuple[str, int, int]]  # size class, chunks, usable bytes (in use)
    by_list: list[tuple[str, int, int]]  # free list, chunks, bytes
    arenas: list[ArenaUsage]
    mmapped: tuple[int, int]
    tunables: dict[str, int]  # mp_'s trim_threshold, top_pad, mmap_threshold (when known)

    @property
    def trimmable(self) -> int:
        return sum(a.trimmable for a in self.arenas)


def _size_class(usable: int) -> str:
    if usable <= 32:
        return "<= 32"
    top = 1 << (usable - 1).bit_length()
    return f"{top // 2 + 1}-{top}"


def heap_usage(walk: HeapWalk) -> HeapUsage:
    c = walk.chunks
    usable = walk.usable()
    w = walk.layout.word
    used = c.state == State.IN_USE
    classes: dict[str, list[int]] = {}
    bits = np.where(usable[used] <= 32, 5,
                    np.ceil(np.log2(np.maximum(usable[used], 1))).astype(np.int64))  # fmt: skip
    for b in np.unique(bits).tolist():
        m = bits == b
        label = _size_class(1 << b)
        classes[label] = [int(m.sum()), int(usable[used][m].sum())]
    by_size = sorted(((k, v[0], v[1]) for k, v in classes.items()),
                     key=lambda r: int(r[0].split("-")[-1].lstrip("<= ")))  # fmt: skip
    by_list = []
    for s in FREE_LISTS:
        m = c.state == s
        by_list.append((s.name.lower(), int(m.sum()), int(c.size[m].sum())))
    # whole pages inside free chunks past fd/bk/fd_nextsize/bk_nextsize (mtrim)
    binned = np.isin(c.state, [int(State.FASTBIN), int(State.UNSORTED), int(State.SMALLBIN),
                               int(State.LARGEBIN)])  # fmt: skip
    lo = (c.address + np.uint64(6 * w) + np.uint64(PAGE - 1)) & ~np.uint64(PAGE - 1)
    hi = (c.address + c.size) & ~np.uint64(PAGE - 1)
    pages = np.where(binned & (hi > lo), hi - lo, np.uint64(0))
    arenas = []
    for a in walk.arenas:
        mine = c.arena == a.index
        free = mine & np.isin(c.state, [int(s) for s in FREE_LISTS])
        top_trim = max(0, a.top_size - walk.layout.min_chunk - 1) // PAGE * PAGE
        arenas.append(ArenaUsage(
            a.address, a.main, a.system_mem, int(c.size[mine & (c.state == State.IN_USE)].sum()),
            int(c.size[free].sum()), int(c.size[free].max()) if free.any() else 0, a.top_size,
            int(pages[mine].sum()) + top_trim,
        ))  # fmt: skip
    mm = c.state == State.MMAPPED
    mp = walk.mp
    tunables = {} if mp is None else {"trim_threshold": mp.trim_threshold,
                                      "top_pad": mp.top_pad,
                                      "mmap_threshold": mp.mmap_threshold}  # fmt: skip
    return HeapUsage(by_size, by_list, arenas, (int(mm.sum()), int(c.size[mm].sum())), tunables)

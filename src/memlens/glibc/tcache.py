"""Telling a ``tcache_perthread_struct`` from a user block of the same size.

A thread's tcache is its first allocation in its arena -- the first chunk of
a fresh arena, but anywhere in the heap when the thread shares an arena
(more threads than ``arena_max``, 8 per core on 64-bit, 2 on 32-bit).  Those
are recognised by content: every ``count`` small, an entry present exactly
where its count is non-zero, at least one entry, and every entry the user
pointer of a walked chunk of that entry's size class.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace
from memlens.glibc.layout import TCACHE_BINS, Layout

U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]
MAX_COUNT = 127  # glibc's default tcache_count is 7; the tunable caps it at 65535


def looks_like_tcache(space: AddressSpace, layout: Layout, chunk_addr: U64, chunk_size: U64,
                      candidates: U64, wide: bool) -> Bools:  # fmt: skip
    """Per candidate chunk address: whether its user memory is a non-empty tcache.

    ``chunk_addr`` (sorted) and ``chunk_size`` are all walked chunks.
    """
    if not len(candidates):
        return np.zeros(0, bool)
    w = layout.word
    count_bytes = TCACHE_BINS * (2 if wide else 1)
    raw = space.read_many(candidates + np.uint64(layout.header), count_bytes + TCACHE_BINS * w,
                          pad=True)  # fmt: skip
    counts = raw[:, :count_bytes].copy().view(np.uint16 if wide else np.uint8).astype(np.int64)
    entries: U64 = raw[:, count_bytes:].copy().view(np.uint64 if w == 8 else np.uint32
                                                    ).astype(np.uint64)  # fmt: skip
    present = entries != 0
    ok = (counts <= MAX_COUNT).all(axis=1) & ((counts > 0) == present).all(axis=1)
    ok &= present.any(axis=1)
    # every entry is the user pointer of a walked chunk of its bin's size class
    chunk = entries - np.uint64(layout.header)
    pos = np.searchsorted(chunk_addr, chunk.ravel()).reshape(chunk.shape)
    pos = np.minimum(pos, len(chunk_addr) - 1)
    found = chunk_addr[pos] == chunk
    size = chunk_size[pos].astype(np.int64)
    index = (size - layout.min_chunk + layout.align - 1) // layout.align
    right = found & (index == np.arange(TCACHE_BINS)[None, :])
    ok &= (right | ~present).all(axis=1)
    return np.asarray(ok, bool)

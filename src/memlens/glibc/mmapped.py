"""Chunks malloc gave their own mapping (requests above ``mmap_threshold``).

No list holds them: each is an anonymous mapping whose first chunk header
says IS_MMAPPED.  The kernel merges neighbouring anonymous mappings into one
region, so every page start of every candidate region is tried: a header at
``page + correction`` whose ``prev_size`` is the correction (0 on x86_64; 8
on i386, where user memory must be 16-aligned) and whose size has exactly the
IS_MMAPPED flag and fits in the region.  A chunk found covers its pages, so
words inside it are never taken for headers.
"""

from __future__ import annotations

import numpy as np

from memlens.core.region import Region, RegionKind
from memlens.core.snapshot import Snapshot
from memlens.glibc.layout import FLAG_BITS, IS_MMAPPED, Layout
from memlens.glibc.present import present_pieces

PAGE = 4096


def find_mmapped(snapshot: Snapshot, layout: Layout,
                 exclude: list[tuple[int, int]]) -> list[tuple[int, int, int]]:  # fmt: skip
    """(chunk address, chunk size, correction) of every mmapped chunk found."""
    space = snapshot.space
    w = layout.word
    corr = layout.first_chunk_misalign
    out: list[tuple[int, int, int]] = []
    for region in snapshot.regions:
        if not _candidate(region, exclude):
            continue
        # page starts (present ones only, for a live target: a chunk's header page
        # was written), and the two header words of each, read in one batch
        pages = np.concatenate([np.arange(lo, hi, PAGE, dtype=np.uint64)
                                for lo, hi in present_pieces(snapshot, region.start, region.end)]
                               or [np.zeros(0, np.uint64)])  # fmt: skip
        if not len(pages):
            continue
        heads = space.read_many(pages + np.uint64(corr), 2 * w, pad=True)
        words = heads.view(np.uint64 if w == 8 else np.uint32).astype(np.uint64)
        prev, size = words[:, 0], words[:, 1]
        chunk = size & np.uint64(~FLAG_BITS & (2**64 - 1))
        ok = (prev == np.uint64(corr)) & ((size & np.uint64(FLAG_BITS)) == np.uint64(IS_MMAPPED))
        ok &= ((chunk + np.uint64(corr)) % np.uint64(PAGE) == 0) & (chunk > 0)
        ok &= chunk + np.uint64(corr) <= np.uint64(region.end) - pages
        next_free = region.start
        for p in np.flatnonzero(ok).tolist():
            at = int(pages[p])
            if at < next_free:
                continue  # inside a chunk already found
            size_p = int(chunk[p])
            out.append((at + corr, size_p, corr))
            next_free = at + corr + size_p
    return out


def _candidate(region: Region, exclude: list[tuple[int, int]]) -> bool:
    if not (region.perms.read and region.perms.write) or region.perms.shared:
        return False
    if region.path or region.kind in (RegionKind.STACK, RegionKind.VVAR, RegionKind.VDSO,
                                      RegionKind.VSYSCALL):  # fmt: skip
        return False
    return not any(s < region.end and region.start < e for s, e in exclude)

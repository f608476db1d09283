"""Reading a live target without faulting its pages in.

``/proc/PID/mem`` and ``process_vm_readv`` fault in whatever they touch; a
never-touched anonymous page would be mapped (and a swapped one read back)
by memlens's read.  For a live target every range memlens scans beyond chunk
headers is first cut down to the pages pagemap reports present; a core or a
snapshot has no such concern and is read as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from memlens.core.snapshot import Snapshot


def present_pieces(snapshot: Snapshot, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` cut to runs of present pages (live targets), else itself."""
    if snapshot.format != "live" or not snapshot.has_residency or end <= start:
        yield start, end
        return
    region = snapshot.space.region_at(start)
    if region is None:
        return
    table = snapshot.page_table(region)
    if table is None:
        yield start, end
        return
    page = table.page_size
    present = np.asarray(table.present, bool)
    first = (start - region.start) // page
    last = min(len(present), -(-(min(end, region.end) - region.start) // page))
    flags = present[first:last]
    if not len(flags):
        return
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flags, [False])).astype(np.int8)))
    for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
        lo = max(start, region.start + (first + a) * page)
        hi = min(end, region.start + (first + b) * page)
        if hi > lo:
            yield lo, hi
    if end > region.end:
        yield from present_pieces(snapshot, region.end, end)

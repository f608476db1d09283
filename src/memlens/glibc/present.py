"""The parts of a range worth reading: saved bytes of a dump, present pages of a process.

``/proc/PID/mem`` and ``process_vm_readv`` fault in whatever they touch; a
never-touched anonymous page would be mapped (and a swapped one read back)
by memlens's read.  For a live target every range memlens scans beyond chunk
headers is first cut down to the pages pagemap reports present.  For a dump,
to the bytes it saved: a region a core records but did not save (a huge
``PROT_READ|PROT_WRITE`` reservation, say) costs nothing.  Live regions
larger than :data:`LIVE_LIMIT` are not read at all (their page table alone
would be gigabytes); :func:`skipped` says which.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from memlens.core.snapshot import Snapshot

LIVE_LIMIT = 64 << 30


def skipped(snapshot: Snapshot, start: int, end: int) -> bool:
    """Whether :func:`present_pieces` leaves ``[start, end)`` out for its size."""
    if snapshot.format != "live":
        return False
    region = snapshot.space.region_at(start)
    return region is not None and region.size > LIVE_LIMIT


def present_pieces(snapshot: Snapshot, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` cut to saved bytes (dumps) or present pages (live targets)."""
    if end <= start:
        return
    if snapshot.format != "live":
        for s, e, seg in snapshot.space.segments.overlapping(start, end):
            if seg.backing is not None:
                yield max(s, start), min(e, end)
        return
    region = snapshot.space.region_at(start)
    if region is None or region.size > LIVE_LIMIT:
        return
    table = snapshot.page_table(region) if snapshot.has_residency else None
    if table is None:
        yield start, min(end, region.end)
    else:
        page = table.page_size
        present = np.asarray(table.present, bool)
        first = (start - region.start) // page
        last = min(len(present), -(-(min(end, region.end) - region.start) // page))
        flags = present[first:last]
        edges = np.flatnonzero(np.diff(np.concatenate(([False], flags, [False])).astype(np.int8)))
        for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            lo = max(start, region.start + (first + a) * page)
            hi = min(end, region.start + (first + b) * page)
            if hi > lo:
                yield lo, hi
    if end > region.end:
        yield from present_pieces(snapshot, region.end, end)

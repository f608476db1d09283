"""The open fast path: the memory view of a clean dump resolved over arrays.

A full-memory dump holds thousands of Memory64List ranges.  Building a Python
object per range (ranges, segments, regions, lookup maps) costs tens of
milliseconds before the first read; this module instead resolves the unified
view with numpy and hands :meth:`AddressSpace.from_columns` a segment table.
Regions are built only when asked for.

It applies only when the dump needs no repair, which is when the general path
(:mod:`.memory`, :func:`.reader._regions`) would warn about nothing: every
Memory64List range non-empty, inside the region limit, not wrapping, wholly in
the file and disjoint from the others; every MemoryList or thread-stack range
inside one Memory64List range (the usual repeat in Windows full dumps) with no
overlaps within its own list; MemoryInfoList regions sorted and disjoint; no
LinuxMaps stream.  Anything else returns ``None`` and the caller takes the
general path, which reports what it repairs -- so both paths give the same
address space and the same warnings.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.core.region import Region
from memlens.sources.minidump import constants
from memlens.sources.minidump.dumpfile import MinidumpFile
from memlens.sources.minidump.linux import LinuxMaps
from memlens.sources.minidump.memory import (
    Memory64List,
    memory_ranges,
    not_saved_gaps,
)
from memlens.sources.minidump.streams import MemoryInfoList

U64 = np.uint64
Array = npt.NDArray[np.uint64]

#: protection & 0xFF -> whether the page is readable, writable or executable at all
_ACCESSIBLE = np.zeros(256, dtype=np.bool_)
for _code, _rwx in constants.PROTECTIONS.items():
    _ACCESSIBLE[_code] = any(_rwx)


def _sorted_disjoint(starts: Array, sizes: Array) -> bool:
    """Non-empty, not wrapping past 2**64, and each row ending before the next begins."""
    if not len(starts):
        return True
    lasts = starts + (sizes - U64(1))
    return bool(sizes.all() and (lasts >= starts).all() and (lasts[:-1] < starts[1:]).all())


def _memory64(dump: MinidumpFile) -> tuple[Array, Array, Array] | None:
    """Sorted ``(starts, sizes, rvas)`` of a clean Memory64List, or ``None``."""
    full = dump.try_stream(Memory64List)
    if full is None:
        return np.zeros(0, U64), np.zeros(0, U64), np.zeros(0, U64)
    sizes = full.sizes
    if len(sizes) and int(sizes.max()) > dump.limits.max_region_size:
        return None
    # The ranges' bytes follow each other from base_rva; all must end inside the file.
    # A float64 sum of integers decides that exactly (partial sums below 2**53 are exact),
    # and then the uint64 running sum below cannot wrap.
    if float(sizes.sum(dtype=np.float64)) + full.base_rva > dump.size:
        return None
    ends_in_file = np.cumsum(sizes, dtype=U64) + U64(full.base_rva)
    rvas = ends_in_file - sizes
    starts = full.starts
    if len(starts) and not (starts[1:] > starts[:-1]).all():  # writers list them in order
        order = np.argsort(starts, kind="stable")
        starts, sizes, rvas = starts[order], sizes[order], rvas[order]
    if not _sorted_disjoint(starts, sizes):
        return None
    return starts, sizes, rvas


def _others_contained(dump: MinidumpFile, starts: Array, sizes: Array) -> bool:
    """Whether every MemoryList / thread-stack range lies inside one Memory64List range.

    Those ranges then add nothing to the view (the first range wins) -- but
    ranges overlapping within their own list would be warned about, so they
    must be disjoint too.
    """
    others = memory_ranges(dump, memory64=False)
    if not others:
        return True
    for source in ("MemoryList", "ThreadList"):
        own = sorted((r.start, r.start + r.size) for r in others if r.source == source)
        if any(a[1] > b[0] for a, b in itertools.pairwise(own)):
            return False
    o_starts = np.array([r.start for r in others], dtype=U64)
    o_sizes = np.array([r.size for r in others], dtype=U64)
    if not o_sizes.all() or not len(starts) or any(r.rva + r.size > dump.size for r in others):
        return False  # zero-size or cut-off ranges: the general path warns about them
    idx = np.searchsorted(starts, o_starts, side="right").astype(np.int64) - 1
    ok = idx >= 0
    i = np.maximum(idx, 0)
    room = sizes[i] - np.minimum(o_starts - starts[i], sizes[i])  # bytes from o_start to row end
    return bool((ok & (o_sizes <= room)).all())


def _extents(dump: MinidumpFile) -> tuple[Array, Array] | None:
    """``(starts, sizes)`` of the accessible MemoryInfoList regions, or ``None`` if unclean.

    With no MemoryInfoList the regions are the memory ranges themselves: no
    extents beyond them, so no gaps.
    """
    infos = dump.try_stream(MemoryInfoList)
    if infos is None:
        return np.zeros(0, U64), np.zeros(0, U64)
    t = infos.table
    start, size = t["base_address"].astype(U64), t["region_size"].astype(U64)
    state = t["state"]
    keep = (state != constants.MEM_FREE) & (size > 0) & ((start == 0) | (size <= -start))
    everything = bool(keep.all())
    if not _sorted_disjoint(*((start, size) if everything else (start[keep], size[keep]))):
        return None  # the general path resolves (and reports) overlapping regions
    usable = keep & (state == constants.MEM_COMMIT) & _ACCESSIBLE[t["protection"] & 0xFF]
    if usable.all():
        return start, size
    return start[usable], size[usable]


def _uncovered(ext_starts: Array, ext_sizes: Array, starts: Array, sizes: Array) -> bool:
    """Whether some extent holds bytes no saved row covers (saved rows sorted, disjoint)."""
    if not len(ext_starts):
        return False
    if not len(starts):
        return True
    if len(ext_starts) == len(starts) and (ext_starts == starts).all() and (
        ext_sizes == sizes
    ).all():
        return False  # each region saved whole: a full dump's usual shape
    ext_lasts = ext_starts + (ext_sizes - U64(1))
    prefix = np.concatenate([np.zeros(1, U64), np.cumsum(sizes, dtype=U64)])
    lasts = starts + (sizes - U64(1))
    first = np.searchsorted(lasts, ext_starts, side="left")  # first row ending after ext start
    stop = np.searchsorted(starts, ext_lasts, side="right")  # rows starting at or before ext last
    covered = prefix[stop] - prefix[np.minimum(first, stop)]
    has = stop > first
    f, last_row = np.minimum(first, len(starts) - 1), np.maximum(stop, 1) - 1
    head = np.where(has & (ext_starts > starts[f]), ext_starts - starts[f], U64(0))
    tail = np.where(has & (lasts[last_row] > ext_lasts), lasts[last_row] - ext_lasts, U64(0))
    return bool((covered - head - tail != ext_sizes).any())


def fast_space(
    dump: MinidumpFile,
    backing: BufferBacking,
    regions: Callable[[], Sequence[Region]],
    word_size: int,
) -> AddressSpace | None:
    """The address space of a clean dump, or ``None`` when the general path is needed.

    ``regions`` builds the regions (from the memory ranges when there is no
    MemoryInfoList); it runs on first use of ``space.regions``.
    """
    if dump.try_stream(LinuxMaps) is not None:
        return None
    table = _memory64(dump)
    if table is None:
        return None
    starts, sizes, rvas = table
    if not _others_contained(dump, starts, sizes):
        return None
    extents = _extents(dump)
    if extents is None:
        return None
    saved = np.ones(len(starts), dtype=np.bool_)
    if _uncovered(*extents, starts, sizes):
        # Accessible regions the dump holds no bytes for: mapped, not saved (rare; in Python).
        e_list = [(s, s + z) for s, z in zip(extents[0].tolist(), extents[1].tolist(),
                                             strict=True)]  # fmt: skip
        covered = [Segment(s, s + z, None) for s, z in zip(starts.tolist(), sizes.tolist(),
                                                           strict=True)]  # fmt: skip
        gaps = not_saved_gaps(e_list, covered)
        g_starts = np.array([g.start for g in gaps], dtype=U64)
        g_sizes = np.array([g.end - g.start for g in gaps], dtype=U64)
        order = np.argsort(np.concatenate([starts, g_starts]), kind="stable")
        starts = np.concatenate([starts, g_starts])[order]
        sizes = np.concatenate([sizes, g_sizes])[order]
        rvas = np.concatenate([rvas, np.zeros(len(gaps), U64)])[order]
        saved = np.concatenate([saved, np.zeros(len(gaps), np.bool_)])[order]
    return AddressSpace.from_columns(regions, starts, sizes, rvas, saved, backing,
                                     word_size=word_size, byteorder=dump.order)  # fmt: skip

"""MemoryList, Memory64List, and the one memory view built from them.

MemoryList descriptors each point at their own bytes.  Memory64List (full
dumps) stores one ``base_rva``: range *i*'s bytes follow range *i-1*'s, so the
rva of each range is ``base_rva`` plus the sizes before it.

The unified view: Memory64List ranges first, then MemoryList ranges, then the
thread stacks the ThreadList points at, into one
:class:`RangeMap` that keeps the first range on overlap -- so Memory64List wins
where both lists cover an address, and within one list the earlier descriptor
wins (rust-minidump), with a warning instead of dropping the list (Breakpad).
Zero-size ranges are ignored, ranges that wrap past 2**64 or exceed the region
size limit are skipped, and bytes that lie past the end of the file are
reported as mapped but not saved -- each with a warning.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import Segment
from memlens.core.backing import BufferBacking
from memlens.core.rangemap import Overlap, RangeMap
from memlens.sources.minidump import layouts as L
from memlens.sources.minidump.dumpfile import DirectoryEntry, MinidumpFile
from memlens.sources.minidump.streams import Stream, ThreadList, register
from memlens.sources.minidump.structs import Record

TOP = 1 << 64


@dataclass(frozen=True, slots=True)
class MemoryRange:
    """``size`` bytes of target memory at ``start``, stored at file offset ``rva``."""

    start: int
    size: int
    rva: int
    source: str  # "MemoryList" or "Memory64List"


@register
class MemoryList(Stream):
    TYPE = 5
    KEY = "memory_list"

    def __init__(self, entry: DirectoryEntry, descriptors: list[Record]) -> None:
        super().__init__(entry)
        self.descriptors = descriptors

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        count, rva = dump.list_header(entry, L.COUNT32, L.MEMORY_DESCRIPTOR.size, "count",
                                      dump.limits.max_regions, "memory list")  # fmt: skip
        return cls(entry, dump.records(L.MEMORY_DESCRIPTOR, rva, count, "memory list"))

    def ranges(self) -> list[MemoryRange]:
        return [MemoryRange(d["start_of_memory_range"], d["memory.data_size"], d["memory.rva"],
                            "MemoryList") for d in self.descriptors]  # fmt: skip


@register
class Memory64List(Stream):
    TYPE = 9
    KEY = "memory64_list"

    def __init__(self, entry: DirectoryEntry, raw: Record, starts: npt.NDArray[np.uint64],
                 sizes: npt.NDArray[np.uint64]) -> None:  # fmt: skip
        super().__init__(entry)
        self.raw = raw
        self.starts = starts
        self.sizes = sizes

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        raw = dump.record(L.MEMORY64_HEADER, entry.rva, "memory64 list")
        count = raw["number_of_memory_ranges"]
        # Bound the claimed count by the stream before allocating anything.
        room = (entry.size - L.MEMORY64_HEADER.size) // L.MEMORY64_DESCRIPTOR.size
        if entry.size < L.MEMORY64_HEADER.size or count > room:
            raise dump.error(entry.rva, f"memory64 list: {count} ranges do not fit the stream "
                             f"size {entry.size}")  # fmt: skip
        data = dump.bytes_at(entry.rva + L.MEMORY64_HEADER.size,
                             count * L.MEMORY64_DESCRIPTOR.size, "memory64 list")  # fmt: skip
        order = "<" if dump.order == "little" else ">"
        table = np.frombuffer(data, dtype=np.dtype(f"{order}u8"), count=2 * count).reshape(-1, 2)
        starts = table[:, 0].astype(np.uint64)
        sizes = table[:, 1].astype(np.uint64)
        return cls(entry, raw, starts, sizes)

    @property
    def base_rva(self) -> int:
        return self.raw["base_rva"]

    def ranges(self) -> list[MemoryRange]:
        out = []
        rva = self.base_rva
        for start, size in zip(self.starts.tolist(), self.sizes.tolist(), strict=True):
            out.append(MemoryRange(start, size, rva, "Memory64List"))
            rva += size  # Python ints: a hostile size cannot wrap the running offset
        return out

    def descriptors(self) -> list[Record]:
        """The raw 16-byte descriptors (built on demand: a full dump may have many)."""
        base = self.entry.rva + L.MEMORY64_HEADER.size
        return [Record(L.MEMORY64_DESCRIPTOR, base + 16 * i, (s, z))
                for i, (s, z) in enumerate(zip(self.starts.tolist(), self.sizes.tolist(),
                                               strict=True))]  # fmt: skip


def _summarize(dump: MinidumpFile, what: str, items: list[str]) -> None:
    if not items:
        return
    shown = ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
    dump.warn(f"{what}: {shown}")


def _disjoint(items: list[tuple[int, int, MemoryRange]]) -> bool:
    """Whether the (start, end) ranges do not overlap (any order)."""
    ordered = sorted((s, e) for s, e, _ in items)
    return all(a[1] <= b[0] for a, b in itertools.pairwise(ordered))


def memory_ranges(dump: MinidumpFile, *, memory64: bool = True) -> list[MemoryRange]:
    """Memory64List ranges, then MemoryList ranges (unreadable lists become warnings)."""
    ranges: list[MemoryRange] = []
    full = dump.try_stream(Memory64List) if memory64 else None
    if full is not None:
        ranges.extend(full.ranges())
    listed = dump.try_stream(MemoryList)
    if listed is not None:
        ranges.extend(listed.ranges())
    # A thread's stack descriptor points at bytes too (Windows writers repeat it in
    # the MemoryList, others may not); a null rva means "look it up in the lists".
    threads = dump.try_stream(ThreadList)
    for t in threads.threads if threads is not None else []:
        if t.stack_rva and t.stack_size:
            ranges.append(MemoryRange(t.stack_start, t.stack_size, t.stack_rva, "ThreadList"))
    return ranges


def unified_segments(
    dump: MinidumpFile, backing: BufferBacking
) -> tuple[list[Segment], list[MemoryRange]]:
    """The saved (and cut-off) segments of the dump, and the ranges they came from."""
    zero: list[str] = []
    wrapping: list[str] = []
    too_big: list[str] = []
    truncated: list[str] = []
    accepted: list[tuple[int, int, MemoryRange]] = []
    for r in memory_ranges(dump):
        if r.size == 0:
            zero.append(f"{r.start:#x}")
        elif r.start + r.size > TOP:
            wrapping.append(f"{r.start:#x}+{r.size:#x}")
        elif r.size > dump.limits.max_region_size:
            too_big.append(f"{r.start:#x} ({r.size} bytes)")
        else:
            accepted.append((r.start, r.start + r.size, r))
    _summarize(dump, "zero-size memory ranges ignored", zero)
    _summarize(dump, "memory ranges wrapping past the top of the address space skipped", wrapping)
    _summarize(dump, f"memory ranges above the {dump.limits.max_region_size}-byte region limit "
               "skipped (raise limits.max_region_size)", too_big)  # fmt: skip
    # Overlaps inside one list are suspicious; Memory64List covering MemoryList is expected.
    for source in ("Memory64List", "MemoryList", "ThreadList"):
        own = [a for a in accepted if a[2].source == source]
        if _disjoint(own):
            continue  # the usual case: no RangeMap needed to find conflicts
        conflicts = RangeMap(own, Overlap.KEEP_FIRST).conflicts
        _summarize(dump, f"overlapping {source} ranges (the first one kept)",
                   [f"[{c.start:#x}, {c.end:#x})" for c in conflicts])  # fmt: skip
    segments: list[Segment] = []
    used: list[MemoryRange] = []
    for start, end, r in accepted:
        avail = max(0, min(r.size, dump.size - r.rva)) if r.rva < dump.size else 0
        if avail:
            segments.append(Segment(start, start + avail, backing, r.rva))
        if avail < r.size:
            truncated.append(f"[{start + avail:#x}, {end:#x})")
            segments.append(Segment(start + avail, end, None))
        used.append(r)
    _summarize(dump, "memory past the end of the file (mapped, not saved)", truncated)
    return segments, used


def not_saved_gaps(extents: list[tuple[int, int]], saved: list[Segment]) -> list[Segment]:
    """The parts of ``extents`` (sorted, disjoint) that no saved segment covers.

    They become segments without backing: mapped, but not saved in the dump.
    """
    covered: list[list[int]] = []
    for seg in sorted(saved, key=lambda sg: sg.start):
        if covered and seg.start <= covered[-1][1]:
            covered[-1][1] = max(covered[-1][1], seg.end)
        else:
            covered.append([seg.start, seg.end])
    gaps: list[Segment] = []
    j = 0
    for start, end in extents:
        cursor = start
        while j < len(covered) and covered[j][1] <= cursor:
            j += 1
        k = j
        while k < len(covered) and covered[k][0] < end:
            if covered[k][0] > cursor:
                gaps.append(Segment(cursor, covered[k][0], None))
            cursor = max(cursor, covered[k][1])
            k += 1
        if cursor < end:
            gaps.append(Segment(cursor, end, None))
    return gaps

"""Per-region totals: size, saved bytes, memory use as smaps counts it, resident / swapped /
soft-dirty pages.

Memory use (:class:`~memlens.sources.live.smaps.Usage`) comes from the kernel's
``/proc/PID/smaps`` for a live process -- the numbers ``pmap -X`` prints -- and
is computed from the page table otherwise (a ``memlens snapshot`` core keeps
pagemap, kpagecount and kpageflags): Rss without the shared zero page and
without hugetlb pages (smaps counts those as Shared/Private_Hugetlb), Pss as
each page's size over its map count, Uss as the pages mapped once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memlens.core.pages import PageTable
from memlens.core.region import Region, RegionKind
from memlens.core.snapshot import Snapshot
from memlens.sources.live.process import LiveProcess
from memlens.sources.live.smaps import Usage, read_smaps


@dataclass(frozen=True, slots=True)
class RegionRow:
    region: Region
    saved: int | None  # bytes with data in the snapshot (None for live targets)
    resident: int | None  # pages; None when the source has no residency
    swapped: int | None
    soft_dirty: int | None
    partial: str | None = None
    #: why the page counts are unknown (e.g. [vsyscall] lies above the task size)
    note: str | None = None
    #: why ``soft_dirty`` is None although the page table was read
    soft_dirty_reason: str | None = None
    #: memory use in bytes (smaps fields), None when unknown
    usage: Usage | None = None


def select_regions(regions: Sequence[Region], areas: Sequence[str] | None) -> list[Region]:
    """Regions whose name contains any of ``areas`` (each region once, in address order)."""
    if not areas:
        return list(regions)
    return [r for r in regions if any(a in r.label() for a in areas)]


def region_rows(snap: Snapshot, regions: Sequence[Region], *,
                page_tables: bool = True) -> list[RegionRow]:  # fmt: skip
    """One row per region; ``page_tables=False`` skips pagemap (the page counts are then
    ``None``) when the caller needs only the smaps numbers of a live process."""
    rows = []
    saved_known = snap.format != "live"
    usage = _live_usage(snap)
    tables: dict[Region, PageTable | None] = dict.fromkeys(regions)
    if snap.has_residency and (page_tables or usage is None):
        tables = dict(snap.iter_page_tables(list(regions), counts=usage is None,
                                            kpage=usage is None))  # fmt: skip
    for r in regions:
        t = tables.get(r)
        saved = snap.space.saved_bytes(r.start, r.end) if saved_known else None
        used = usage.get(r.start) if usage is not None else None
        if used is None and t is not None and usage is None:
            used = usage_of_table(t, r)
        if t is None or (not page_tables and usage is not None):
            rows.append(RegionRow(r, saved, None, None, None, usage=used))
            continue
        if "pagemap" in t.unavailable:
            rows.append(RegionRow(r, saved, None, None, None, note=t.unavailable["pagemap"],
                                  usage=used))  # fmt: skip
            continue
        rows.append(
            RegionRow(
                r,
                saved,
                int(t.present.sum()),
                # guard-region markers read as swap entries: not swapped memory
                None if "swap" in t.unavailable else int((t.swapped & ~t.guard).sum()),
                None
                if "soft_dirty" in t.unavailable
                else int((t.soft_dirty & (t.present | t.swapped)).sum()),
                t.partial,
                soft_dirty_reason=t.unavailable.get("soft_dirty"),
                usage=used,
            )
        )
    return rows


def _live_usage(snap: Snapshot) -> dict[int, Usage] | None:
    """smaps of a live process by mapping start; None for other sources."""
    if not isinstance(snap, LiveProcess) or snap.pid is None:
        return None
    return read_smaps(snap.pid)


def usage_of_table(table: PageTable, region: Region) -> Usage | None:
    """smaps-like fields of one region from its page table (bytes).

    Rss leaves out the shared zero page and hugetlb pages (flags ZERO_PAGE, and HUGE
    without THP) when kpageflags were read; Pss and Uss need kpagecount.  Fields that
    cannot be told are left out, never guessed.
    """
    import numpy as np

    if "pagemap" in table.unavailable:
        return None
    ps = table.page_size
    present = table.present
    swapped = table.swapped & ~table.guard
    fields: dict[str, int] = {}
    counted = present
    flags = table.flags
    if flags is not None:
        zero = (flags >> np.uint64(24)) & np.uint64(1) == 1
        huge = ((flags >> np.uint64(17)) & np.uint64(1) == 1) & (
            (flags >> np.uint64(22)) & np.uint64(1) == 0)  # fmt: skip
        counted = present & ~zero & ~huge
        hugetlb = int((present & huge).sum()) * ps
        shared = region.perms.shared
        fields["Shared_Hugetlb" if shared else "Private_Hugetlb"] = hugetlb
    fields["Rss"] = int(counted.sum()) * ps
    if "swap" not in table.unavailable:
        fields["Swap"] = int(swapped.sum()) * ps
    counts = table.counts
    if counts is not None and flags is not None:
        mapped = counts[counted]
        once = mapped <= 1
        fields["Pss"] = int(np.sum(ps / np.maximum(mapped, 1).astype(np.float64)))
        # clean vs dirty needs the page table entries' dirty bits, which pagemap does
        # not export: only the totals
        fields["Private"] = int(once.sum()) * ps
        fields["Shared"] = int((~once).sum()) * ps
    return Usage(fields)


#: the groups of :func:`totals_by_kind`, in the order they are listed
KIND_GROUPS = ("heap", "anon", "stack", "file", "other")


@dataclass(frozen=True, slots=True)
class KindTotals:
    """Regions of one group (heap, anon, stack, file, other): count and bytes."""

    kind: str
    regions: int
    mapped: int
    resident: int  # bytes
    swapped: int  # bytes


def _group(row: RegionRow) -> str:
    k = row.region.kind
    if k == RegionKind.HEAP:
        return "heap"
    if k == RegionKind.STACK:
        return "stack"
    if row.region.path:
        return "file"
    return "anon" if k == RegionKind.ANON else "other"


def totals_by_kind(rows: Sequence[RegionRow], page_size: int) -> list[KindTotals]:
    """Per group of :data:`KIND_GROUPS` that has regions: how many, mapped, resident, swapped."""
    acc: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in KIND_GROUPS}
    for r in rows:
        a = acc[_group(r)]
        a[0] += 1
        a[1] += r.region.size
        a[2] += (r.resident or 0) * page_size
        a[3] += (r.swapped or 0) * page_size
    return [KindTotals(k, *acc[k]) for k in KIND_GROUPS if acc[k][0]]

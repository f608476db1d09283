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

from memlens.core.frozen import Frozen
from memlens.core.region import Region, RegionKind
from memlens.sources.live.procfs import read_proc_bytes
from memlens.sources.live.smaps import Usage, parse_smaps_regions

# not typing.TYPE_CHECKING: `memlens maps PID` imports this module, and typing is
# ~3 ms of a start-up that has ~15 ms to spare (see memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from memlens.core.pages import PageTable
    from memlens.core.snapshot import Snapshot


class RegionRow(Frozen):
    """One region's line of ``memlens maps``."""


    __slots__ = ("region", "saved", "resident", "swapped", "soft_dirty", "partial",  # noqa: RUF023
                 "note", "soft_dirty_reason", "usage")  # fmt: skip
    region: Region
    #: bytes with data in the snapshot (None for live targets)
    saved: int | None
    #: pages; None when the source has no residency
    resident: int | None
    swapped: int | None
    soft_dirty: int | None
    partial: str | None
    #: why the page counts are unknown (e.g. [vsyscall] lies above the task size)
    note: str | None
    #: why ``soft_dirty`` is None although the page table was read
    soft_dirty_reason: str | None
    #: memory use in bytes (smaps fields), None when unknown
    usage: Usage | None

    def __init__(self, region: Region, saved: int | None, resident: int | None,
                 swapped: int | None, soft_dirty: int | None, partial: str | None = None,
                 note: str | None = None, soft_dirty_reason: str | None = None,
                 usage: Usage | None = None) -> None:  # fmt: skip
        values = (region, saved, resident, swapped, soft_dirty, partial, note,
                  soft_dirty_reason, usage)  # fmt: skip
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)


def smaps_rows(pid: int, *, page_counts: bool = False) -> list[RegionRow]:
    """Every mapping of a live process with its smaps fields, from one read of
    ``/proc/PID/smaps`` (each block starts with the mapping's maps line); with
    ``page_counts``, also its present / swapped / soft-dirty pages from pagemap.
    What ``memlens maps PID`` shows, without opening the process as a snapshot.

    Raises:
        ProcessGoneError, TargetError: as :func:`memlens.sources.live.smaps.read_smaps`.
    """
    mapped = parse_smaps_regions(read_proc_bytes(pid, "smaps"), f"/proc/{pid}/smaps")
    if not page_counts:
        return [RegionRow(r, None, None, None, None, usage=u) for r, u in mapped]
    import os

    from memlens.sources.live.pagemap import PagemapReader

    # no kpage* files: page counts need pagemap alone (and so no CAP_SYS_ADMIN check)
    reader = PagemapReader(pid, os.sysconf("SC_PAGE_SIZE"), privileged=False)
    try:
        return [_counted(r, None, reader.table(r, with_kpage=False), u) for r, u in mapped]
    finally:
        reader.close()


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
        rows.append(_counted(r, saved, t, used))
    return rows


def _counted(region: Region, saved: int | None, table: PageTable,
             usage: Usage | None) -> RegionRow:  # fmt: skip
    """A row with the page counts of ``table``."""
    if "pagemap" in table.unavailable:
        return RegionRow(region, saved, None, None, None, note=table.unavailable["pagemap"],
                         usage=usage)  # fmt: skip
    resident, swapped, soft_dirty = page_counts(table)
    return RegionRow(
        region,
        saved,
        resident,
        None if "swap" in table.unavailable else swapped,
        None if "soft_dirty" in table.unavailable else soft_dirty,
        table.partial,
        soft_dirty_reason=table.unavailable.get("soft_dirty"),
        usage=usage,
    )


#: the pagemap bits :func:`page_counts` tells apart
_PRESENT, _SWAPPED, _GUARD, _SOFT_DIRTY = 1 << 63, 1 << 62, 1 << 58, 1 << 55


def page_counts(table: PageTable) -> tuple[int, int, int]:
    """Present pages, swapped pages (guard-region markers read as swap entries: not
    counted) and soft-dirty pages among those two, counted in C without numpy."""
    from memlens import _pagewalk

    keys: dict[int, int] = {}
    _pagewalk.count_keys(table.entries_raw, None, _PRESENT | _SWAPPED | _GUARD | _SOFT_DIRTY,
                         0, 0, keys)  # fmt: skip
    present = sum(n for k, n in keys.items() if k & _PRESENT)
    swapped = sum(n for k, n in keys.items() if k & _SWAPPED and not k & _GUARD)
    soft_dirty = sum(n for k, n in keys.items() if k & _SOFT_DIRTY)
    return present, swapped, soft_dirty


def _live_usage(snap: Snapshot) -> dict[int, Usage] | None:
    """smaps of a live process by mapping start; None for other sources."""
    from memlens.sources.live.process import LiveProcess
    from memlens.sources.live.smaps import read_smaps

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


class KindTotals(Frozen):
    """Regions of one group (heap, anon, stack, file, other): count and bytes."""

    __slots__ = ("kind", "regions", "mapped", "resident", "swapped")  # noqa: RUF023 (Frozen: order)
    kind: str
    regions: int
    mapped: int
    resident: int  # bytes
    swapped: int  # bytes

    def __init__(self, kind: str, regions: int, mapped: int, resident: int,
                 swapped: int) -> None:  # fmt: skip
        values = (kind, regions, mapped, resident, swapped)
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)


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

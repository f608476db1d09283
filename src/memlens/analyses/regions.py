"""Per-region totals: size, saved bytes, resident / swapped / soft-dirty pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memlens.core.region import Region, RegionKind
from memlens.core.snapshot import Snapshot


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


def select_regions(regions: Sequence[Region], areas: Sequence[str] | None) -> list[Region]:
    """Regions whose name contains any of ``areas`` (each region once, in address order)."""
    if not areas:
        return list(regions)
    return [r for r in regions if any(a in r.label() for a in areas)]


def region_rows(snap: Snapshot, regions: Sequence[Region]) -> list[RegionRow]:
    rows = []
    saved_known = snap.format != "live"
    tables = dict.fromkeys(regions)
    if snap.has_residency:
        tables = dict(snap.iter_page_tables(list(regions), kpage=False))
    for r in regions:
        t = tables.get(r)
        saved = snap.space.saved_bytes(r.start, r.end) if saved_known else None
        if t is None:
            rows.append(RegionRow(r, saved, None, None, None))
            continue
        if "pagemap" in t.unavailable:
            rows.append(RegionRow(r, saved, None, None, None, note=t.unavailable["pagemap"]))
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
            )
        )
    return rows


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

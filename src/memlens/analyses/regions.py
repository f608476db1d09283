"""Per-region totals: size, saved bytes, resident / swapped / soft-dirty pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memlens.core.region import Region
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

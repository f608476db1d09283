"""What a target is: the facts ``memlens info`` shows, for any source.

Built only from the generic :class:`Snapshot` fields, so a new reader shows
up here without changes; format-specific facts come through ``extra``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from memlens.core.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class RegionTotals:
    count: int
    mapped: int  # bytes covered by regions
    saved: int | None  # bytes with data (None for live targets: everything readable is there)
    not_saved: int | None
    resident_pages: int | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    snapshot: Snapshot
    totals: RegionTotals
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(snap: Snapshot, *, residency: bool = True) -> Summary:
    """Totals over the regions (and resident pages when the source knows them)."""
    regions = snap.regions
    mapped = sum(r.size for r in regions)
    saved = not_saved = None
    if snap.format != "live":
        saved = sum(snap.space.saved_bytes(r.start, r.end) for r in regions)
        # Bytes of segments outside any region count too (raw pieces have both).
        not_saved = sum(e - s for s, e, seg in snap.space.segments if seg.backing is None)
    resident = None
    if residency and snap.has_residency:
        resident = 0
        for _, table in snap.iter_page_tables(list(regions), kpage=False):
            if table is not None:
                resident += int(table.present.sum())
    return Summary(snap, RegionTotals(len(regions), mapped, saved, not_saved, resident),
                   {k: plain(v) for k, v in snap.extra.items()})  # fmt: skip


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses to dicts, bytes to hex, keys to strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)

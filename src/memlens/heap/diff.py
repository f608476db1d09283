"""Growth by allocation site between two heap snapshots.

Sites are matched by their symbolized stacks -- module and offset in the
module per frame -- so two runs of one program match despite ASLR; frames
without a module fall back to the raw address.
"""

from __future__ import annotations

from dataclasses import dataclass

from memlens.heap.report import Group, HeapReport
from memlens.symbols.frame import Frame

SiteKey = tuple[tuple[str, int] | int, ...]


def site_key(frames: tuple[Frame, ...]) -> SiteKey:
    return tuple(
        (f.module.rsplit("/", 1)[-1], f.module_offset)
        if f.module is not None and f.module_offset is not None
        else f.address
        for f in frames
    )


@dataclass(frozen=True, slots=True)
class SiteDelta:
    frames: tuple[Frame, ...]
    bytes_before: float
    bytes_after: float
    count_before: float
    count_after: float

    @property
    def bytes_delta(self) -> float:
        return self.bytes_after - self.bytes_before

    @property
    def count_delta(self) -> float:
        return self.count_after - self.count_before


@dataclass(frozen=True, slots=True)
class HeapDiff:
    sites: list[SiteDelta]
    total_before: int
    total_after: int
    blocks_before: int
    blocks_after: int


def diff_reports(before: HeapReport, after: HeapReport) -> HeapDiff:
    """Sites sorted by growth in bytes (largest first); unchanged sites left out."""
    acc: dict[SiteKey, list[float]] = {}
    frames_of: dict[SiteKey, tuple[Frame, ...]] = {}

    def add(groups: list[Group], slot: int) -> None:
        for g in groups:
            key = site_key(g.frames)
            row = acc.setdefault(key, [0.0, 0.0, 0.0, 0.0])
            row[slot] += g.est_bytes
            row[slot + 2] += g.est_count
            frames_of.setdefault(key, g.frames)

    add(before.groups, 0)
    add(after.groups, 1)
    sites = [
        SiteDelta(frames_of[k], b0, b1, c0, c1)
        for k, (b0, b1, c0, c1) in acc.items()
        if b0 != b1 or c0 != c1
    ]
    sites.sort(key=lambda s: (-s.bytes_delta, -s.count_delta, site_key(s.frames).__repr__()))
    return HeapDiff(
        sites, before.total_bytes, after.total_bytes, before.total_count, after.total_count
    )

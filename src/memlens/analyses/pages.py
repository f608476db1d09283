"""Per-page state of regions: the tables a source has for them.

The page-types style summary of these tables is in
:mod:`memlens.analyses.pagesummary`, kept apart so that `memlens pages`
without ``--summary`` does not build its classes at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from memlens.core.frozen import Frozen
from memlens.core.region import Region
from memlens.errors import AddressError

# not typing.TYPE_CHECKING, no dataclasses: `pages PID --summary` has its start-up
# to keep within page-types's whole run (see memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from memlens.core.pages import PageTable
    from memlens.core.snapshot import Snapshot

    class PageSource(Protocol):
        """What a scan and the pages renderers need of a target: a snapshot, or a live
        process's page tables alone (:class:`memlens.sources.live.pagetables.LivePageTables`)."""

        source: str
        format: str
        page_size: int

        @property
        def regions(self) -> list[Region]: ...

        @property
        def has_residency(self) -> bool: ...

        @property
        def word_size(self) -> int: ...

        def iter_page_tables(self, regions: list[Region], *, counts: bool = True,
                             kpage: bool = True) -> Iterator[tuple[Region, PageTable | None]]:
            ...  # fmt: skip


class RegionPages(Frozen):
    """One region and what is known of its pages (``table`` None: source has nothing)."""

    __slots__ = ("region", "table")
    region: Region
    table: PageTable | None

    def __init__(self, region: Region, table: PageTable | None) -> None:
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "table", table)


def scan(
    snap: PageSource, regions: Sequence[Region], *, counts: bool = True
) -> list[RegionPages]:
    """Page tables of ``regions`` (batched by the source)."""
    if not snap.has_residency:
        return [RegionPages(r, None) for r in regions]
    return [RegionPages(r, t) for r, t in snap.iter_page_tables(list(regions), counts=counts)]


def page_at(snap: Snapshot, address: int) -> RegionPages:
    """The one page holding ``address`` (address 0 included), as a one-page table.

    Raises:
        AddressError: no region holds ``address``.
    """
    region = snap.space.region_at(address)
    if region is None:
        raise AddressError(address, "not in any mapped region")
    start = address - address % snap.page_size
    page = region.replace(start=start, end=min(start + snap.page_size, region.end))
    table = snap.page_table(page) if snap.has_residency else None
    return RegionPages(region, table)


def partial_reason(scanned: Sequence[RegionPages]) -> str | None:
    """Why the scan is incomplete (the process exited mid-scan), or None."""
    for rp in scanned:
        if rp.table is not None and rp.table.partial:
            return rp.table.partial
    return None

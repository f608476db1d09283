"""The page-types style summary of per-page tables.

The summary groups every present or swapped page by its *flag set*: the
kpageflags bits (public 0-26, or 0-41 in raw mode) together with the pagemap
bits that describe the mapping (file/shared, exclusive, soft-dirty, uffd-wp,
guard) and whether the page is present or swapped.  Each page's packed
64-bit key is counted in C (:func:`memlens._pagewalk.count_keys`, over runs of
equal neighbours), so there is no Python loop over pages and no numpy import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from memlens import _pagewalk
from memlens.analyses.pages import RegionPages
from memlens.core.frozen import Frozen
from memlens.core.pages import (
    BIT_EXCLUSIVE,
    BIT_FILE,
    BIT_GUARD,
    BIT_PRESENT,
    BIT_SOFT_DIRTY,
    BIT_SWAPPED,
    BIT_UFFD_WP,
    PAGEMAP_BITS,
    PUBLIC_FLAGS_MASK,
    RAW_FLAGS_MASK,
)
from memlens.core.region import Region, RegionKind
from memlens.errors import MemlensError

# not typing.TYPE_CHECKING, no dataclasses: `pages PID --summary` should take no
# longer than page-types (see memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from memlens.analyses.pagebits import BitFilter
    from memlens.core.pages import U64Data

#: pagemap bits that are part of a page's flag set in the summary
_ENTRY_KEY_MASK = sum(
    1 << b
    for b in (BIT_SOFT_DIRTY, BIT_EXCLUSIVE, BIT_UFFD_WP, BIT_GUARD, BIT_FILE, BIT_SWAPPED)
)
#: kpageflags use bits 0-41 at most; the region kind goes in bits 48-53
_KIND_SHIFT = 48
_KIND_MASK = 0x3F << _KIND_SHIFT
_KINDS: tuple[RegionKind, ...] = tuple(RegionKind)


class FlagGroup(Frozen):
    """Pages of one kind sharing one flag set.

    Attributes:
        kind: a :class:`RegionKind` value, or ``"total"``.
        state: ``"present"``, ``"swapped"`` or ``"guard"`` (a guard-region marker).
        flags: kpageflags bits (masked to the shown ones), or None when unknown.
        bits: names of the pagemap bits set (``file-page``, ``exclusive``...).
        pages: how many pages.
        size: bytes.
    """

    __slots__ = ("kind", "state", "flags", "bits", "pages", "size")  # noqa: RUF023 (order)
    kind: str
    state: str
    flags: int | None
    bits: tuple[str, ...]
    pages: int
    size: int

    def __init__(self, kind: str, state: str, flags: int | None, bits: tuple[str, ...],
                 pages: int, size: int) -> None:  # fmt: skip
        values = (kind, state, flags, bits, pages, size)
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)


class PageSummary:
    """Every flag group per region kind, then the totals over all kinds."""

    __slots__ = ("groups", "page_size", "partial", "regions_without_table", "totals",
                 "unavailable")  # fmt: skip

    def __init__(self, page_size: int = 4096) -> None:
        self.groups: list[FlagGroup] = []
        self.totals: list[FlagGroup] = []
        self.unavailable: dict[str, str] = {}
        self.regions_without_table: list[tuple[Region, str]] = []
        self.partial: str | None = None
        self.page_size = page_size


def _state(key: int) -> str:
    if key >> BIT_SWAPPED & 1:
        # guard regions are PTE markers that pagemap reports as swap entries
        return "guard" if key >> BIT_GUARD & 1 else "swapped"
    return "present"


def _groups(counts: dict[int, int], kind: str | None, page_size: int,
            flags_known: bool) -> list[FlagGroup]:  # fmt: skip
    out = []
    for k, n in counts.items():
        out.append(
            FlagGroup(
                kind=kind if kind is not None else _KINDS[(k & _KIND_MASK) >> _KIND_SHIFT].value,
                state=_state(k),
                flags=(k & RAW_FLAGS_MASK) if flags_known else None,
                bits=tuple(name for bit, name in PAGEMAP_BITS if k >> bit & 1),
                pages=n,
                size=n * page_size,
            )
        )
    # most pages first; ties in a stable order of the key
    return sorted(out, key=lambda g: (g.kind, -g.pages, g.state, g.flags or 0, g.bits))


def summarize(scanned: Sequence[RegionPages], page_size: int, *, raw: bool = False) -> PageSummary:
    """Group the present and swapped pages of ``scanned`` by flag set."""
    summary = PageSummary(page_size=page_size)
    mask = RAW_FLAGS_MASK if raw else PUBLIC_FLAGS_MASK
    counts: dict[int, int] = {}
    flags_known = True
    for rp in scanned:
        t = rp.table
        if t is None:
            summary.regions_without_table.append((rp.region, "the source has no page data"))
            continue
        if "pagemap" in t.unavailable:
            summary.regions_without_table.append((rp.region, t.unavailable["pagemap"]))
            continue
        summary.unavailable.update({k: v for k, v in t.unavailable.items() if k != "count"})
        summary.partial = summary.partial or t.partial
        flags = t.flags_raw
        flags_known = flags_known and flags is not None
        kind = _KINDS.index(rp.region.kind) << _KIND_SHIFT
        _pagewalk.count_keys(t.entries_raw, flags, _ENTRY_KEY_MASK, mask, kind, counts)
    if not counts:
        return summary
    totals: dict[int, int] = {}
    for key, n in counts.items():
        total_key = key & ~_KIND_MASK
        totals[total_key] = totals.get(total_key, 0) + n
    summary.groups = _groups(counts, None, page_size, flags_known)
    summary.totals = _groups(totals, "total", page_size, flags_known)
    return summary


#: PFNs per /proc/kpageflags read of the whole-machine summary
SYSTEM_BLOCK = 1 << 16


def summarize_system(page_size: int, *, raw: bool = False, filters: Sequence[BitFilter] = (),
                     path: str = "/proc/kpageflags") -> PageSummary:  # fmt: skip
    """Every physical page by flag set, as ``page-types`` with no ``-p`` counts them.

    ``/proc/kpageflags`` is read a block of PFNs at a time (memory stays bounded
    whatever the machine's size) and counted in C.  ``filters`` keep only the pages
    whose flags (expanded as page-types -r does) match.

    Raises:
        MemlensError: /proc/kpageflags cannot be read (it needs CAP_SYS_ADMIN).
    """
    mask = RAW_FLAGS_MASK if raw else PUBLIC_FLAGS_MASK
    summary = PageSummary(page_size=page_size)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        why = "needs CAP_SYS_ADMIN (run as root)" if e.errno in (1, 13) else e.strerror
        raise MemlensError(f"{path}: {why}") from None
    # every physical page counts as present: the pagemap-entry half of a summary key
    present = memoryview((1 << BIT_PRESENT).to_bytes(8, sys.byteorder) * SYSTEM_BLOCK)
    counts: dict[int, int] = {}
    try:
        pfn = 0
        while True:
            try:
                data = os.pread(fd, SYSTEM_BLOCK * 8, pfn * 8)
            except OSError as e:
                raise MemlensError(f"{path}: {e.strerror}") from None
            n = len(data) // 8
            if not n:
                break
            entries: U64Data = present[: n * 8]
            if filters:
                from memlens.analyses.pagebits import keep_only, matching
                from memlens.core.pages import PageTable

                table = PageTable(0, page_size, entries, None, data)
                entries = keep_only(table, matching(table, filters)).entries_raw
            _pagewalk.count_keys(entries, data, 0, mask, 0, counts)
            pfn += n
    finally:
        os.close(fd)
    summary.totals = _groups(counts, "total", page_size, True)
    return summary

"""Per-page state: Linux pagemap entries and kpageflags, decoded with numpy.

A :class:`PageTable` is what any source knows of a region's pages: the raw
64-bit pagemap entries (``Documentation/admin-guide/mm/pagemap.rst``), and,
when the PFNs were visible, the kpagecount and kpageflags of each present
page.  Sources that know less (memdump: resident or not) fill what they know
and say what is missing in ``unavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
BOOL = npt.NDArray[np.bool_]

# pagemap entry bits
PFN_MASK = (1 << 55) - 1
SWAP_TYPE_MASK = 0x1F
SWAP_OFFSET_SHIFT = 5
BIT_SOFT_DIRTY = 55
BIT_EXCLUSIVE = 56
BIT_UFFD_WP = 57
BIT_GUARD = 58
BIT_FILE = 61
BIT_SWAPPED = 62
BIT_PRESENT = 63

#: pagemap entry bits with their display names, in display order
PAGEMAP_BITS: tuple[tuple[int, str], ...] = (
    (BIT_FILE, "file-page"),
    (BIT_EXCLUSIVE, "exclusive"),
    (BIT_SOFT_DIRTY, "soft-dirty"),
    (BIT_UFFD_WP, "uffd-wp"),
    (BIT_GUARD, "guard"),
)

#: /proc/kpageflags bits 0-26 (include/uapi/linux/kernel-page-flags.h)
KPAGEFLAG_NAMES: tuple[str, ...] = (
    "LOCKED", "ERROR", "REFERENCED", "UPTODATE", "DIRTY", "LRU", "ACTIVE", "SLAB",
    "WRITEBACK", "RECLAIM", "BUDDY", "MMAP", "ANON", "SWAPCACHE", "SWAPBACKED",
    "COMPOUND_HEAD", "COMPOUND_TAIL", "HUGE", "UNEVICTABLE", "HWPOISON", "NOPAGE",
    "KSM", "THP", "OFFLINE", "ZERO_PAGE", "IDLE", "PGTABLE",
)  # fmt: skip

#: "hacker" bits 32-41 shown only in raw mode (kernel page-types -r)
KPAGEFLAG_RAW_NAMES: dict[int, str] = {
    32: "RESERVED", 33: "MLOCKED", 34: "MAPPEDTODISK", 35: "PRIVATE", 36: "PRIVATE_2",
    37: "OWNER_PRIVATE", 38: "ARCH", 39: "UNCACHED", 40: "SOFTDIRTY", 41: "ARCH_2",
}  # fmt: skip

PUBLIC_FLAGS_MASK = (1 << len(KPAGEFLAG_NAMES)) - 1
RAW_FLAGS_MASK = PUBLIC_FLAGS_MASK | sum(1 << b for b in KPAGEFLAG_RAW_NAMES)


def flag_names(flags: int, raw: bool = False) -> list[str]:
    """Names of the kpageflags bits set in ``flags`` (bits 32-41 too when ``raw``)."""
    names = [n for bit, n in enumerate(KPAGEFLAG_NAMES) if flags >> bit & 1]
    if raw:
        names += [n for bit, n in KPAGEFLAG_RAW_NAMES.items() if flags >> bit & 1]
    return names


def _bit(entries: U64, bit: int) -> BOOL:
    result: BOOL = (entries >> np.uint64(bit)) & np.uint64(1) == np.uint64(1)
    return result


@dataclass(slots=True)
class PageTable:
    """What is known of each page of one region ``[start, start + n*page_size)``.

    Attributes:
        start: address of the first page.
        page_size: bytes per page.
        entries: pagemap entries, one per page.
        counts: kpagecount per page (0 where not present), or ``None``.
        flags: kpageflags per page (0 where not present), or ``None``.
        unavailable: why a kind of information is missing, keyed by
            ``"pfn"``, ``"count"``, ``"flags"``, ``"swap"``, ``"soft_dirty"``
            (or ``"pagemap"`` when there is no page table at all).
        partial: the table covers fewer pages than the region (a process
            exited mid-scan, a region above the task size...); ``entries``
            then covers only the first ``len(entries)`` pages.
    """

    start: int
    page_size: int
    entries: U64
    counts: U64 | None = None
    flags: U64 | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    partial: str | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def addresses(self) -> U64:
        base = np.uint64(self.start)
        return base + np.arange(len(self.entries), dtype=np.uint64) * np.uint64(self.page_size)

    @property
    def present(self) -> BOOL:
        return _bit(self.entries, BIT_PRESENT)

    @property
    def swapped(self) -> BOOL:
        return _bit(self.entries, BIT_SWAPPED)

    @property
    def file_or_shared(self) -> BOOL:
        return _bit(self.entries, BIT_FILE)

    @property
    def exclusive(self) -> BOOL:
        return _bit(self.entries, BIT_EXCLUSIVE)

    @property
    def soft_dirty(self) -> BOOL:
        return _bit(self.entries, BIT_SOFT_DIRTY)

    @property
    def uffd_wp(self) -> BOOL:
        return _bit(self.entries, BIT_UFFD_WP)

    @property
    def guard(self) -> BOOL:
        return _bit(self.entries, BIT_GUARD)

    @property
    def pfn(self) -> U64:
        """PFN of present pages (0 elsewhere, and 0 everywhere when hidden)."""
        return np.where(self.present, self.entries & np.uint64(PFN_MASK), np.uint64(0))

    @property
    def swap_type(self) -> U64:
        return np.where(self.swapped, self.entries & np.uint64(SWAP_TYPE_MASK), np.uint64(0))

    @property
    def swap_offset(self) -> U64:
        off = (self.entries & np.uint64(PFN_MASK)) >> np.uint64(SWAP_OFFSET_SHIFT)
        return np.where(self.swapped, off, np.uint64(0))

    @property
    def pfn_known(self) -> bool:
        return "pfn" not in self.unavailable

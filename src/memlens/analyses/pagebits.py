"""``page-types``-style flag filters (``-b``) and page ranges (``-l``) over page tables.

Filters and ranges work on *expanded* flags, as ``page-types -r`` computes them:
the kpageflags word with the bits the kernel overloads moved to bits of their
own, and the pagemap bits a page-types user filters on added:

* bit 34 on an anonymous page -> ``anon_exclusive`` (47);
* RECLAIM without WRITEBACK -> ``readahead`` (48);
* ACTIVE / ERROR on a slab page -> ``slub_frozen`` (50) / ``slub_debug`` (51);
* pagemap soft-dirty -> ``softdirty`` (40), file-page -> ``file`` (61), swapped ->
  ``swap`` (62), exclusively mapped -> ``mmap_exclusive`` (63).

A bits spec (one ``--bits``; several are all required):

* ``a,b``      -- any of them set: ``flags & (a|b) != 0``
* ``a,~b``     -- a set and b clear: ``flags & (a|b) == a``
* ``a,b=a``    -- ``flags & (a|b) == a``
* ``=a,b``     -- exactly these: ``flags == a|b``

A name is a flag name (any case; memlens's and page-types's spellings), or a
number (``0x10``, decimal) for a bit *mask*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memlens.core.pages import (
    BIT_EXCLUSIVE,
    BIT_FILE,
    BIT_PRESENT,
    BIT_SOFT_DIRTY,
    BIT_SWAPPED,
    KPAGEFLAG_NAMES,
    KPAGEFLAG_RAW_NAMES,
    PageTable,
)
from memlens.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ALL = (1 << 64) - 1
ANON_EXCLUSIVE, READAHEAD, SLUB_FROZEN, SLUB_DEBUG = 47, 48, 50, 51
SOFTDIRTY, FILE, SWAP, MMAP_EXCLUSIVE = 40, 61, 62, 63

#: name -> bit mask, in both spellings (memlens: ZERO_PAGE; page-types: zero_page)
FLAG_BITS: dict[str, int] = {
    **{n.lower(): 1 << b for b, n in enumerate(KPAGEFLAG_NAMES)},
    **{n.lower(): 1 << b for b, n in KPAGEFLAG_RAW_NAMES.items()},
    "idle_page": 1 << 25, "owner_2": 1 << 34,
    "anon_exclusive": 1 << ANON_EXCLUSIVE, "readahead": 1 << READAHEAD,
    "slub_frozen": 1 << SLUB_FROZEN, "slub_debug": 1 << SLUB_DEBUG,
    "file": 1 << FILE, "swap": 1 << SWAP, "mmap_exclusive": 1 << MMAP_EXCLUSIVE,
    "compound": 1 << 15 | 1 << 16,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class BitFilter:
    """Pages pass when ``flags & mask == bits``, or with ``bits == ALL`` when any is set."""

    mask: int
    bits: int
    spec: str

    def passes(self, flags: int) -> bool:
        if self.bits == ALL:
            return flags & self.mask != 0
        return flags & self.mask == self.bits


def _names(text: str, negated: bool) -> int:
    """The mask of the comma-separated names; ``~name`` counts only when ``negated``."""
    out = 0
    for word in text.split(","):
        word = word.strip()
        if not word:
            continue
        if word.startswith("~"):
            if not negated:
                continue
            word = word[1:]
        out |= _one(word)
    return out


def _one(word: str) -> int:
    bit = FLAG_BITS.get(word.lower())
    if bit is not None:
        return bit
    try:
        return int(word, 0) & ALL
    except ValueError:
        raise UsageError(f"--bits: unknown flag {word!r} (names: "
                         f"{', '.join(sorted(FLAG_BITS))})") from None  # fmt: skip


def parse_bits(spec: str) -> BitFilter:
    """One ``--bits`` spec (``page-types -b`` syntax).

    Raises:
        UsageError: an unknown name.
    """
    left, eq, right = spec.partition("=")
    if eq and not left:
        return BitFilter(ALL, _names(right, False), spec)
    if eq:
        return BitFilter(_names(left, True), _names(right, False), spec)
    if "~" in spec:
        return BitFilter(_names(spec, True), _names(spec, False), spec)
    return BitFilter(_names(spec, False), ALL, spec)


def expanded_flags(table: PageTable) -> npt.NDArray[np.uint64]:
    """Each page's flags as page-types ``-r`` expands them (0 for pages with no flags)."""
    import numpy as np

    one = np.uint64(1)

    def bit(values: npt.NDArray[np.uint64], n: int) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = (values >> np.uint64(n)) & one == one
        return result

    entries = table.entries
    raw = table.flags
    flags = (np.zeros(len(entries), dtype=np.uint64) if raw is None
             else raw[: len(entries)].astype(np.uint64, copy=True))  # fmt: skip
    flags[~bit(entries, BIT_PRESENT)] = 0

    def move(where: npt.NDArray[np.bool_], src: int, dst: int) -> None:
        flags[where] ^= np.uint64(1 << src | 1 << dst)

    move(bit(flags, 12) & bit(flags, 34), 34, ANON_EXCLUSIVE)
    slab = bit(flags, 7)
    move(slab & bit(flags, 6), 6, SLUB_FROZEN)
    move(slab & bit(flags, 1), 1, SLUB_DEBUG)
    move(bit(flags, 9) & ~bit(flags, 8), 9, READAHEAD)
    for src, dst in ((BIT_SOFT_DIRTY, SOFTDIRTY), (BIT_FILE, FILE), (BIT_SWAPPED, SWAP),
                     (BIT_EXCLUSIVE, MMAP_EXCLUSIVE)):  # fmt: skip
        flags[bit(entries, src)] |= np.uint64(1 << dst)
    return flags


def matching(table: PageTable, filters: Sequence[BitFilter]) -> npt.NDArray[np.bool_]:
    """Present or swapped pages of ``table`` whose expanded flags pass every filter."""
    import numpy as np

    shown = table.present | table.swapped & ~table.guard
    flags = expanded_flags(table)
    for f in filters:
        if f.bits == ALL:
            shown &= flags & np.uint64(f.mask) != 0
        else:
            shown &= flags & np.uint64(f.mask) == np.uint64(f.bits)
    return shown


def keep_only(table: PageTable, pages: npt.NDArray[np.bool_]) -> PageTable:
    """A copy of ``table`` with every page not in ``pages`` made empty (entry 0)."""
    import numpy as np

    entries = np.where(pages, table.entries, np.uint64(0))
    return PageTable(table.start, table.page_size, entries, table.counts, table.flags,
                     dict(table.unavailable), table.partial)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PageRange:
    """Neighbouring pages with consecutive frames (or swap slots) and one flag set."""

    start: int  # virtual address
    pages: int
    pfn: int | None  # first frame (None: swapped, or frames hidden)
    swapped: bool
    flags: int  # expanded flags
    kpageflags: int | None  # the kernel's word for the first page
    entry: int  # pagemap entry of the first page


def page_ranges(table: PageTable, filters: Sequence[BitFilter] = ()) -> list[PageRange]:
    """The ``page-types -l`` ranges of ``table``: runs of pages passing ``filters``."""
    import numpy as np

    keep = matching(table, filters)
    idx = np.flatnonzero(keep)
    if not len(idx):
        return []
    flags = expanded_flags(table)[idx]
    entries = table.entries[idx]
    frame = entries & np.uint64((1 << 55) - 1)
    if not table.pfn_known:
        frame = idx.astype(np.uint64)  # frames hidden: runs of neighbouring pages only
    swapped = (entries >> np.uint64(BIT_PRESENT)) == 0
    breaks = np.ones(len(idx), dtype=bool)
    breaks[1:] = ((np.diff(idx) != 1) | (np.diff(frame.astype(np.int64)) != 1)
                  | (flags[1:] != flags[:-1]) | (swapped[1:] != swapped[:-1]))  # fmt: skip
    starts = np.flatnonzero(breaks)
    ends = np.append(starts[1:], len(idx))
    raw = table.flags
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        i = int(idx[a])
        out.append(PageRange(
            start=table.start + i * table.page_size, pages=b - a,
            pfn=int(frame[a]) if table.pfn_known and not swapped[a] else None,
            swapped=bool(swapped[a]), flags=int(flags[a]),
            kpageflags=int(raw[i]) if raw is not None and not swapped[a] else None,
            entry=int(entries[a]),
        ))  # fmt: skip
    return out


def expanded_names(flags: int) -> list[str]:
    """page-types's names of the expanded bits set in ``flags``, in bit order."""
    names = {b: n for n, m in FLAG_BITS.items() if m and not m & (m - 1)
             for b in [m.bit_length() - 1]}  # fmt: skip
    names.update({34: "mappedtodisk", 25: "idle"})
    return [names.get(b, f"bit{b}") for b in range(64) if flags >> b & 1]

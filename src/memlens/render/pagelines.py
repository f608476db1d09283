"""Per-page text output: one line per present or swapped page, one per run of others::

    00007fff5e59b000  phys 000000022762a000  exclusive  count 1  UPTODATE,LRU,ANON
    00007fff5e59c000  swap 0000000000001234  type 0  soft-dirty
    00007fff5e59d000  guard region
    ... 30 pages not present ...

The lines are made in C (:class:`memlens._pagewalk.LineFormat`, a block of
pages at a time) from the table's raw uint64 columns, with the names of
:mod:`memlens.core.pages` handed to it in display order; this module owns the
region headers and the writes.  No numpy: see :mod:`memlens._pagewalk` for why
the pages path departs from "hot paths are numpy".
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from memlens import _pagewalk
from memlens.analyses.pages import RegionPages
from memlens.core.pages import (
    KPAGEFLAG_NAMES,
    KPAGEFLAG_OVERLOADS,
    KPAGEFLAG_RAW_NAMES,
    PAGEMAP_BITS,
    PUBLIC_FLAGS_MASK,
    PageTable,
)
from memlens.render.textout import ESCAPE
from memlens.render.units import human_size

# not typing.TYPE_CHECKING: typing is ~3 ms of `pages PID` (memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

#: shown pages per block
BLOCK_ROWS = 1 << 16
#: bytes of text per block at most: one buffer, reused for every block (a fresh
#: one per block cost a page fault per 4 KiB of text)
BLOCK_BYTES = 1 << 18


@functools.cache
def line_format(raw: bool) -> _pagewalk.LineFormat:
    """The C line layout with memlens's names: kpageflags 0-26, and in raw mode
    also bits 32-41 by name and every other bit as ``BIT<n>``, in that order, with
    overloaded bits named by page kind (``ANON_EXCLUSIVE``, ``READAHEAD``...)."""
    names = list(enumerate(KPAGEFLAG_NAMES))
    if raw:
        names += sorted(KPAGEFLAG_RAW_NAMES.items())
        named = {bit for bit, _ in names}
        names += [(b, f"BIT{b}") for b in range(64) if b not in named]
    mask = (1 << 64) - 1 if raw else PUBLIC_FLAGS_MASK
    # raw mode names overloaded bits by page kind, as page-types -r does
    return _pagewalk.LineFormat(names, PAGEMAP_BITS, mask, KPAGEFLAG_OVERLOADS if raw else ())


def flag_text(flags: int, raw: bool) -> str:
    """Comma-separated kpageflags names; in raw mode unnamed bits show as ``BIT<n>``."""
    return line_format(raw).flag_text(flags)


class PageLines:
    """Formats page tables, a block of pages at a time into one reused buffer.

    Args:
        raw: also name kpageflags bits 32-41, and unnamed bits as ``BIT<n>``.
        block_rows: shown pages per block at most.
    """

    def __init__(self, raw: bool = False, *, block_rows: int = BLOCK_ROWS) -> None:
        self.raw = raw
        self.block_rows = max(1, block_rows)
        self._format = line_format(raw)
        self._buffer = bytearray(BLOCK_BYTES)

    def render(self, table: PageTable) -> bytes:
        """The page lines of ``table`` (runs of pages not present folded)."""
        return b"".join(bytes(view) for view in self.views(table))

    def views(self, table: PageTable) -> Iterator[memoryview]:
        """The page lines of ``table`` a block at a time, each a view of this
        object's buffer: valid until the next one is made (write it, or copy it)."""
        entries = table.entries_raw
        counts, flags = table.counts_raw, table.flags_raw
        n, pos = len(table), 0
        whole = memoryview(self._buffer)
        while pos < n:
            size, pos = self._format.render_into(self._buffer, entries, counts, flags,
                                                 table.start, table.page_size, table.pfn_known,
                                                 pos, self.block_rows)  # fmt: skip
            yield whole[:size]


def render_table(table: PageTable, raw: bool = False) -> bytes:
    """The page lines of ``table`` (not-present runs folded)."""
    return PageLines(raw).render(table)


def region_header(rp: RegionPages, word_size: int) -> bytes:
    r = rp.region
    digits = word_size * 2
    lines = [
        f"\n{r.start:0{digits}x}-{r.end:0{digits}x} {r.perms} {r.offset:08x} "
        f"{human_size(r.size)} {r.label()}"
    ]
    t = rp.table
    if t is None:
        lines.append("  (no page data in this source)")
    else:
        if "pagemap" in t.unavailable:
            lines.append(f"  (page table unavailable: {t.unavailable['pagemap']})")
        elif "pfn" in t.unavailable:
            why = t.unavailable["pfn"]
            lines.append(f"  (physical address, count and flags unavailable: {why})")
        else:
            for key in ("count", "flags"):
                if key in t.unavailable and t.unavailable[key] != "not read":
                    lines.append(f"  ({key} unavailable: {t.unavailable[key]})")
        if t.partial:
            total = (r.end - r.start + t.page_size - 1) // t.page_size
            lines.append(f"  (partial: {t.partial}; {len(t)} of {total} pages read)")
    return ("\n".join(lines) + "\n\n").encode("utf-8", ESCAPE)  # a non-UTF-8 name: \xff


def write_regions(out: BinaryIO, scanned: list[RegionPages], word_size: int,
                  raw: bool = False) -> None:  # fmt: skip
    """Every region's header and lines; one write per block of pages."""
    lines = PageLines(raw)
    pending = bytearray()
    for rp in scanned:
        pending += region_header(rp, word_size)
        if rp.table is None or not len(rp.table):
            continue
        for view in lines.views(rp.table):
            if len(view) < 1 << 16:
                pending += view  # small regions: gathered, not a write each
                continue
            out.write(pending)
            pending.clear()
            out.write(view)
    out.write(pending)


#: entry bits that make a page shown: present, swapped, or a guard marker
_SHOWN = 1 << 63 | 1 << 62 | 1 << 58


def write_single(out: BinaryIO, rp: RegionPages, word_size: int, raw: bool = False) -> None:
    """The one page of a ``--address`` query (its table holds exactly that page)."""
    out.write(region_header(rp, word_size))
    t = rp.table
    if t is None or not len(t):
        return
    if not t.entry(0) & _SHOWN:
        out.write(f"{t.start:016x}  not present\n".encode())
        return
    out.write(render_table(t, raw))

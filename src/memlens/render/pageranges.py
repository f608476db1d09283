"""``memlens pages --list``: page ranges as ``page-types -l`` lists them, with addresses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from memlens.analyses.pagebits import PageRange, expanded_names
from memlens.analyses.pages import RegionPages


def range_json(r: PageRange) -> dict[str, Any]:
    return {"start": r.start, "pages": r.pages, "pfn": r.pfn, "swapped": r.swapped,
            "flags": r.flags, "flag_names": expanded_names(r.flags),
            "kpageflags": r.kpageflags, "entry": r.entry}  # fmt: skip


def write_ranges(out: TextIO, listed: Sequence[tuple[RegionPages, list[PageRange]]],
                 word_size: int) -> None:  # fmt: skip
    """One line per range: address, first frame (or ``swap``), pages, expanded flag names."""
    digits = word_size * 2
    out.write(f"{'address':<{digits}}  {'pfn':<13}  {'pages':>7}  flags\n")
    total = 0
    for _, ranges in listed:
        for r in ranges:
            frame = "swap" if r.swapped else "-" if r.pfn is None else f"{r.pfn:x}"
            out.write(f"{r.start:0{digits}x}  {frame:<13}  {r.pages:>7}  "
                      f"{','.join(expanded_names(r.flags)) or '-'}\n")  # fmt: skip
            total += r.pages
    out.write(f"{total} pages in {sum(len(r) for _, r in listed)} ranges\n")

"""Per-page text and summary on synthetic page tables (an independent encoder of entries)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.analyses.pages import RegionPages
from memlens.analyses.pagesummary import summarize
from memlens.core.pages import PageTable
from memlens.core.region import Region, RegionKind
from memlens.render.pagelines import render_table

PAGE = 4096


def present(pfn: int, *, exclusive: bool = False, file: bool = False) -> int:
    return 1 << 63 | exclusive << 56 | file << 61 | pfn


def swapped(swap_type: int, offset: int, *, soft_dirty: bool = False) -> int:
    return 1 << 62 | soft_dirty << 55 | offset << 5 | swap_type


GUARD = 1 << 62 | 1 << 58


def make(entries: list[int], flags: list[int] | None = None,
         counts: list[int] | None = None, start: int = 0x10000) -> PageTable:  # fmt: skip
    e = np.array(entries, dtype=np.uint64)
    return PageTable(
        start, PAGE, e,
        counts=None if counts is None else np.array(counts, dtype=np.uint64),
        flags=None if flags is None else np.array(flags, dtype=np.uint64),
    )  # fmt: skip


def test_every_state_renders_exactly() -> None:
    uptodate_anon = 1 << 3 | 1 << 12 | 1 << 11
    t = make(
        [present(0x1234, exclusive=True), 0, 0, swapped(3, 0xABC, soft_dirty=True), GUARD,
         present(0x99, file=True)],
        flags=[uptodate_anon, 0, 0, 0, 0, 1 << 33 | 1 << 11],
        counts=[1, 0, 0, 0, 0, 7],
    )  # fmt: skip
    assert render_table(t).decode().splitlines() == [
        "0000000000010000  phys 0000000001234000  exclusive  count 1  UPTODATE,MMAP,ANON",
        "... 2 pages not present ...",
        "0000000000013000  swap 0000000000000abc  type 3  soft-dirty",
        "0000000000014000  guard region",
        "0000000000015000  phys 0000000000099000  file-page  count 7  MMAP",
    ]
    raw = render_table(t, raw=True).decode().splitlines()
    assert raw[-1] == "0000000000015000  phys 0000000000099000  file-page  count 7  MMAP,MLOCKED"


def test_unknown_flag_bits_show_in_raw_mode_only() -> None:
    t = make([present(1)], flags=[1 << 27 | 1 << 5], counts=[1])
    assert render_table(t).decode() == "0000000000010000  phys 0000000000001000  count 1  LRU\n"
    assert render_table(t, raw=True).decode().endswith("count 1  LRU,BIT27\n")


def test_pfn_unavailable_lines() -> None:
    # unprivileged: the kernel zeroes PFNs and swap slots alike
    t = make([present(0, exclusive=True), 0, present(0), swapped(0, 0, soft_dirty=True)])
    t.unavailable = {"pfn": "r", "count": "r", "flags": "r"}
    assert render_table(t).decode().splitlines() == [
        "0000000000010000  present  exclusive",
        "... 1 pages not present ...",
        "0000000000012000  present",
        "0000000000013000  swapped  soft-dirty",
    ]


def test_flags_unreadable_but_pfn_known() -> None:
    t = make([present(0x42)], counts=[3])
    t.unavailable = {"flags": "/proc/kpageflags: Permission denied"}
    assert render_table(t).decode() == "0000000000010000  phys 0000000000042000  count 3\n"


@pytest.mark.parametrize("value", [0, 1, 0xDEADBEEF, 2**64 - 1, 0x00007FFF5E59B000])
def test_hex_columns_match_format(value: int) -> None:
    start = value - value % PAGE
    pfn = value >> 12 & (1 << 55) - 1
    t = make([present(pfn), swapped(0, value >> 14)], start=min(start, 2**64 - 2 * PAGE))
    page, swap = render_table(t).decode().splitlines()
    first = min(start, 2**64 - 2 * PAGE)
    assert page.split()[:3] == [f"{first:016x}", "phys", f"{pfn * PAGE % 2**64:016x}"]
    assert swap.split()[:3] == [f"{first + PAGE:016x}", "swap", f"{value >> 14:016x}"]


entry = st.one_of(
    st.just(0),
    st.builds(present, st.integers(0, 2**40), exclusive=st.booleans(), file=st.booleans()),
    st.builds(swapped, st.integers(0, 31), st.integers(0, 2**40)),
    st.just(GUARD),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(entry, min_size=1, max_size=300), st.data())
def test_one_line_per_page_or_run(entries: list[int], data: st.DataObject) -> None:
    flags = data.draw(st.lists(st.integers(0, 2**42 - 1), min_size=len(entries),
                               max_size=len(entries)))  # fmt: skip
    counts = data.draw(st.lists(st.integers(0, 2**22), min_size=len(entries),
                                max_size=len(entries)))  # fmt: skip
    t = make(entries, flags=flags, counts=counts)
    lines = render_table(t).decode().splitlines()
    present_counts = [c for e, c in zip(entries, counts, strict=True) if e >> 63]
    shown_counts = [int(ln.split("  count ")[1].split()[0]) for ln in lines if "  count " in ln]
    assert shown_counts == present_counts
    shown = [i for i, e in enumerate(entries) if e >> 62]
    runs = sum(1 for i, e in enumerate(entries) if not e >> 62 and (i == 0 or entries[i - 1] >> 62))
    assert len(lines) == len(shown) + runs
    page_lines = [ln for ln in lines if not ln.startswith("...")]
    assert [int(ln[:16], 16) for ln in page_lines] == [0x10000 + i * PAGE for i in shown]
    missing = sum(int(ln.split()[1]) for ln in lines if ln.startswith("..."))
    assert missing == len(entries) - len(shown)
    region = Region(0x10000, 0x10000 + len(entries) * PAGE, kind=RegionKind.ANON)
    summary = summarize([RegionPages(region, t)], PAGE)
    assert sum(g.pages for g in summary.totals) == len(shown)
    assert sum(g.pages for g in summary.groups) == len(shown)
    assert sum(g.pages for g in summary.totals if g.state == "guard") == entries.count(GUARD)


# -- the C formatter against a plain one-line-per-page reference ---------------


def _overloaded(name: str, f: int) -> str:
    """Bit 34 on an anonymous page (bit 12), RECLAIM (9) without WRITEBACK (8), and
    ACTIVE (6) / ERROR (1) on a slab page (7), as tools/mm/page-types.c expands them."""
    if name == "MAPPEDTODISK" and f >> 12 & 1:
        return "ANON_EXCLUSIVE"
    if name == "RECLAIM" and not f >> 8 & 1:
        return "READAHEAD"
    if f >> 7 & 1 and name in ("ACTIVE", "ERROR"):
        return {"ACTIVE": "SLUB_FROZEN", "ERROR": "SLUB_DEBUG"}[name]
    return name


def reference_lines(t: PageTable, raw: bool) -> bytes:
    """The documented line format, one page at a time (slow, obviously right)."""
    from memlens.core.pages import KPAGEFLAG_NAMES, KPAGEFLAG_RAW_NAMES

    pfn_known = "pfn" not in t.unavailable
    counts_known = pfn_known and t.counts is not None
    flags_known = pfn_known and t.flags is not None
    words_of = ((61, "file-page"), (56, "exclusive"), (55, "soft-dirty"), (57, "uffd-wp"),
                (58, "guard"))  # fmt: skip
    out: list[str] = []
    missing = 0
    for i, value in enumerate(t.entries.tolist()):
        e = int(value)
        is_present, is_swapped, is_guard = e >> 63 & 1, e >> 62 & 1, e >> 58 & 1
        if not (is_present or is_swapped or is_guard):
            missing += 1
            continue
        if missing:
            out.append(f"... {missing} pages not present ...")
            missing = 0
        fields = [f"{t.start + i * t.page_size:016x}"]
        words = " ".join(name for bit, name in words_of if e >> bit & 1)
        if is_present:
            if pfn_known:
                fields.append(f"phys {(e & (1 << 55) - 1) * t.page_size % 2**64:016x}")
            else:
                fields.append("present")
            fields += [words] if words else []
            if counts_known:
                assert t.counts is not None
                fields.append(f"count {int(t.counts[i])}")
            if flags_known:
                assert t.flags is not None
                f = int(t.flags[i])
                names = [n for b, n in enumerate(KPAGEFLAG_NAMES) if f >> b & 1]
                if raw:
                    names += [n for b, n in sorted(KPAGEFLAG_RAW_NAMES.items()) if f >> b & 1]
                    unnamed = [b for b in range(27, 64) if b not in KPAGEFLAG_RAW_NAMES]
                    names += [f"BIT{b}" for b in unnamed if f >> b & 1]
                    # page-types -r names overloaded bits by page kind
                    names = [_overloaded(n, f) for n in names]
                fields.append(",".join(names) or "-")
        elif is_guard:
            fields.append("guard region")
        else:
            if pfn_known:
                fields += [f"swap {(e & (1 << 55) - 1) >> 5:016x}", f"type {e & 31}"]
            else:
                fields.append("swapped")
            fields += [words] if words else []
        out.append("  ".join(fields))
    if missing:
        out.append(f"... {missing} pages not present ...")
    return "".join(line + "\n" for line in out).encode()


#: pagemap entries of every kind: any PFN / swap field and any pagemap bit
any_bits = st.integers(0, 0x7F).map(lambda b: (b & 0x27) << 55 | (b >> 3 & 0x1) << 61)
page_entry = st.one_of(
    st.just(0),
    st.builds(lambda pfn, bits: 1 << 63 | bits | pfn, st.integers(0, 2**55 - 1), any_bits),
    st.builds(lambda field, bits: 1 << 62 | bits | field, st.integers(0, 2**55 - 1), any_bits),
    st.builds(lambda f, sw: 1 << 58 | sw << 62 | f, st.integers(0, 2**55 - 1), st.booleans()),
    st.integers(0, 2**64 - 1),  # anything at all, bits 59-60 included
)
#: runs of equal pages, as real page tables hold (and the runs layout needs)
page_runs = st.lists(st.tuples(page_entry, st.integers(1, 40)), min_size=0, max_size=12)


@settings(max_examples=150, deadline=None)
@given(page_runs, st.data())
def test_lines_equal_reference(runs: list[tuple[int, int]], data: st.DataObject) -> None:
    from memlens.render.pagelines import PageLines

    entries = [e for e, n in runs for _ in range(n)]
    n = len(entries)
    small = st.integers(0, 3)
    flags = data.draw(st.one_of(st.none(), st.lists(
        st.one_of(small.map(lambda i: [0, 1 << 3 | 1 << 5, 1 << 12, 1 << 33 | 1 << 27][i]),
                  st.integers(0, 2**64 - 1)), min_size=n, max_size=n)))  # fmt: skip
    counts = data.draw(st.one_of(st.none(), st.lists(
        st.one_of(small, st.integers(0, 2**64 - 1)), min_size=n, max_size=n)))  # fmt: skip
    top = data.draw(st.sampled_from([0, 0x10000, 0x7FFF_FFFF_F000, 2**64 - 2**20]))
    t = make(entries, flags=flags, counts=counts, start=min(top, 2**64 - n * PAGE))
    if data.draw(st.booleans(), label="pfn hidden"):
        t.unavailable = {"pfn": "r", "count": "r", "flags": "r"}
    raw = data.draw(st.booleans(), label="raw")
    block = data.draw(st.sampled_from([2, 7, 1 << 16]), label="block rows")
    assert PageLines(raw, block_rows=block).render(t) == reference_lines(t, raw)


def test_partial_table_lines_cover_only_the_pages_read() -> None:
    # a process that exited mid-scan: the table holds the first 3 of 8 pages
    t = make([present(5), 0, 0], flags=[1 << 5], counts=[2])
    t.partial = "the process exited during the scan"
    region = Region(0x10000, 0x10000 + 8 * PAGE, kind=RegionKind.ANON)
    import io

    from memlens.render.pagelines import write_regions

    buf = io.BytesIO()
    write_regions(buf, [RegionPages(region, t)], 8)
    assert buf.getvalue().decode().splitlines()[-3:] == [
        "",
        "0000000000010000  phys 0000000000005000  count 2  LRU",
        "... 2 pages not present ...",
    ]
    text = buf.getvalue().decode()
    assert "(partial: the process exited during the scan; 3 of 8 pages read)" in text

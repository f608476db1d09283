"""mem_info text: hand-written cases, and fuzzing (only FormatError may escape)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.errors import FormatError
from memlens.mpy.meminfo_text import choose, parse, parse_all
from memlens.render.mpy_meminfo import alloc_table

# v1.19-style output: %05x offsets, two areas, "0x" pointers, one all-free run.
OLD = """\
mem: total=4217, current=1524, peak=2872
stack: 880 out of 15360
GC: total: 6144, used: 224, free: 5920
 No. of 1-blocks: 6, 2-blocks: 2, max blk sz: 4, max free sz: 242
GC memory layout; from 0x20001000:
00000: h=hLhh==h==hh.=.................................................
00400: ................................................................
00800: ................................................................
00c00: ................................................................
GC memory layout; from 0x20010000:
       (2 lines all free)
"""


def test_old_format_two_areas() -> None:
    m = parse(OLD)
    assert m.offset_width == 5
    assert m.block_size == 16
    assert [a.pool_start for a in m.areas] == [0x20001000, 0x20010000]
    assert [len(a.chars) for a in m.areas] == [256, 128]
    assert m.mem == (4217, 1524, 2872)
    assert (m.stack_used, m.stack_max) == (880, 15360)
    d = m.derived()
    assert (d.total, d.used, d.free) == (6144, 224, 5920)
    assert m.header is not None and (m.header.used, m.header.free) == (d.used, d.free)
    assert m.letter_counts()["L"] == 1


def test_roundtrip_through_renderer() -> None:
    m = parse(OLD)
    areas = [(a.pool_start, a.chars) for a in m.areas]
    text = alloc_table(areas, 16, offset_width=5, pointer_prefix="0x")
    # the text table had no "lines all free" abbreviation in area 0 lines 1-3
    # because MicroPython abbreviates only runs that START a line and cover two
    # whole lines: lines 1..3 qualify, so the renderer abbreviates them.
    assert "       (3 lines all free)" in text
    assert text.startswith("GC memory layout; from 0x20001000:\n00000: h=hLhh==h==hh.=")


def test_out_of_sequence_offset() -> None:
    bad = OLD.replace("00800: ", "00900: ")
    with pytest.raises(FormatError, match="out of sequence"):
        parse(bad)


def test_nothing_to_parse() -> None:
    with pytest.raises(FormatError):
        parse("hello\nworld\n")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_prefixes_and_flips(data: st.DataObject) -> None:
    raw = bytearray(OLD.encode())
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut]
    for _ in range(data.draw(st.integers(0, 6))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    try:
        m = parse(raw.decode("latin-1"))
        if m.areas and m.block_size:
            m.derived()
    except FormatError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**12))
def test_huge_free_counts_are_bounded(n: int) -> None:
    text = f"GC memory layout; from 1000:\n       ({n} lines all free)\n"
    try:
        m = parse(text)
        assert len(m.areas[0].chars) == 64 * n
    except FormatError as e:
        assert "too large" in str(e)


def test_two_prints_are_two_snapshots() -> None:
    """A program's output with two prints and text between them: two snapshots with
    their own numbers, not one heap of two areas with doubled totals."""
    second = OLD.replace("used: 224, free: 5920", "used: 256, free: 5888").replace(
        "h=hLhh==h==hh.=.", "h=hLhh==h==hh.=h")
    both = OLD + "some program output\n" + second
    prints = parse_all(both)
    assert len(prints) == 2
    assert [len(m.areas) for m in prints] == [2, 2]
    assert [m.header.used for m in prints if m.header] == [224, 256]
    assert [m.derived().total for m in prints] == [6144, 6144]
    assert [k for k, _ in choose(prints, "last", "t")] == [1]
    with pytest.raises(FormatError, match="holds 2"):
        choose(prints, 2, "t")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_several_prints(data: st.DataObject) -> None:
    raw = bytearray((OLD * 3).encode())
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    for _ in range(data.draw(st.integers(0, 6))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    try:
        for m in parse_all(raw.decode("latin-1")):
            m.mismatches()
    except FormatError:
        pass

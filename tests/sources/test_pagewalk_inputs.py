"""memlens._pagewalk on bad and odd inputs: errors, never a crash; results as in Python.

The C code takes buffers and sizes from its callers (and, through PageTable,
from any source): wrong item types, torn entries, short columns, bad file
descriptors, huge counts and offsets must raise, and what it computes must
match a plain Python reading of the same data.
"""

from __future__ import annotations

import array
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens import _pagewalk
from memlens.render.pagelines import line_format

u64 = st.integers(0, 2**64 - 1)


def entries(values: list[int]) -> bytes:
    return array.array("Q", values).tobytes()


def render(raw: bool, *args: object, buffer_size: int = 1 << 16) -> tuple[bytes, int]:
    """``LineFormat.render_into`` with a fresh buffer: (the text, where to go on)."""
    buffer = bytearray(buffer_size)
    size, pos = line_format(raw).render_into(buffer, *args)  # type: ignore[arg-type]
    return bytes(buffer[:size]), pos


@pytest.mark.parametrize(
    "bad",
    [b"1234567", array.array("i", [1, 2]), array.array("d", [1.0]),
     np.zeros((2, 2), dtype=np.uint64)[:, 0], np.zeros(3, dtype=">u8"), "text", 7, None],
    ids=["torn", "int32", "double", "strided", "big-endian", "str", "int", "none"],
)  # fmt: skip
def test_bad_buffers_raise(bad: object) -> None:
    with pytest.raises((TypeError, ValueError, BufferError)):
        render(False, bad, None, None, 0, 4096, True, 0, 10)
    with pytest.raises((TypeError, ValueError, BufferError)):
        _pagewalk.count_keys(bad, None, 0, 0, 0, {})  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError, BufferError)):
        _pagewalk.pfn_census([bad])  # type: ignore[list-item]


def test_render_argument_bounds() -> None:
    e = entries([1 << 63 | 5, 1 << 63 | 6])
    for pos, lines in ((-1, 1), (3, 1), (0, 0)):
        with pytest.raises(ValueError):
            render(False, e, None, None, 0, 4096, True, pos, lines)
    small = bytearray(line_format(False).min_buffer - 1)
    for buffer in (small, b"x" * 100000, memoryview(bytearray(100000))[::2]):
        with pytest.raises((ValueError, TypeError, BufferError)):
            line_format(False).render_into(buffer, e, None, None, 0, 4096, True, 0, 10)  # type: ignore[arg-type]
    # counts/flags must cover every present page they are asked for
    with pytest.raises(ValueError):
        render(False, e, entries([1]), None, 0, 4096, True, 0, 10)
    with pytest.raises(ValueError):
        _pagewalk.count_keys(e, entries([1]), 0, 0, 0, {})
    # ... but not when they are not shown (PFNs hidden)
    text, pos = render(False, e, entries([1]), None, 0, 4096, False, 0, 10)
    assert pos == 2 and text.count(b"present") == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(u64, max_size=200), st.integers(1, 5), st.integers(0, 3000))
def test_blocks_join_to_the_whole(values: list[int], max_lines: int, spare: int) -> None:
    """However small the blocks, they resume where they stopped and add up to one render."""
    e = entries(values)
    whole, end = render(True, e, e, e, 0x1000, 4096, True, 0, 1 << 20, buffer_size=1 << 22)
    assert end == len(values)
    smallest = line_format(True).min_buffer
    parts, pos = [], 0
    while pos < len(values):
        text, new = render(True, e, e, e, 0x1000, 4096, True, pos, max_lines,
                           buffer_size=smallest + spare)  # fmt: skip
        assert new > pos
        parts.append(text)
        pos = new
    assert b"".join(parts) == whole


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(u64, u64), max_size=200), u64, u64, u64)
def test_count_keys_equals_a_python_count(pages: list[tuple[int, int]], entry_mask: int,
                                          flags_mask: int, extra: int) -> None:  # fmt: skip
    want: dict[int, int] = {}
    for e, f in pages:
        if e >> 62:
            key = (e & entry_mask) | (f & flags_mask) | extra
            want[key] = want.get(key, 0) + 1
    got: dict[int, int] = {}
    _pagewalk.count_keys(entries([e for e, _ in pages]), entries([f for _, f in pages]),
                         entry_mask, flags_mask, extra, got)  # fmt: skip
    assert got == want


def test_pagemap_read_bounds(tmp_path: Path) -> None:
    path = tmp_path / "pagemap"
    path.write_bytes(entries(list(range(10))) + b"\x01\x02\x03")  # a torn last entry
    fd = os.open(path, os.O_RDONLY)
    try:
        data, err = _pagewalk.pagemap_read(fd, 2, 100, 3)
        assert err == 0 and array.array("Q", bytes(data)).tolist() == list(range(2, 10))
        assert _pagewalk.pagemap_read(fd, 0, 0, 1) == (bytearray(), 0)
        for first, count, chunk in ((0, -1, 1), (0, 1, 0)):
            with pytest.raises(ValueError):
                _pagewalk.pagemap_read(fd, first, count, chunk)
        for first, count in ((2**61, 1), (2**60 - 1, 2**60), (0, 2**62)):
            with pytest.raises(OverflowError):
                _pagewalk.pagemap_read(fd, first, count, 1)
    finally:
        os.close(fd)
    data, err = _pagewalk.pagemap_read(fd, 0, 4, 4)  # closed descriptor
    assert (data, err) == (bytearray(), 9)  # EBADF


def test_kpage_fill_matches_reads_by_pfn(tmp_path: Path) -> None:
    values = list(range(1000, 1000 + 500))
    path = tmp_path / "kpageflags"
    path.write_bytes(entries(values))
    tables = [entries([1 << 63 | 3, 0, 1 << 62 | 4, 1 << 63 | 499]),
              entries([]), entries([1 << 63 | 10**9, 1 << 63 | 3, 1 << 63 | 200])]  # fmt: skip
    fd = os.open(path, os.O_RDONLY)
    try:
        (per_table,) = _pagewalk.kpage_fill(tables, [fd], 8)
        assert isinstance(per_table, list)
        got = [array.array("Q", bytes(t)).tolist() for t in per_table]
        assert got == [[1003, 0, 0, 1499], [], [0, 1003, 1200]]
        assert _pagewalk.kpage_fill(tables, [1 << 20], 8) == [9]  # EBADF, per file
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        _pagewalk.kpage_read(-1, entries([1]), 8)
    with pytest.raises(ValueError):
        _pagewalk.kpage_fill(tables, [-5], 8)


def test_line_format_rejects_bad_names() -> None:
    for names in ([(64, "X")], [(-1, "X")], [(3, "")], [(3, "A" * 40)], [(3, "A B")],
                  [(i, "N") for i in range(65)], [("3", "X")]):  # fmt: skip
        with pytest.raises((ValueError, TypeError)):
            _pagewalk.LineFormat(names, [], 0)  # type: ignore[arg-type]

from __future__ import annotations

import numpy as np
import pytest

from memlens.core.rangemap import Overlap, RangeMap


def test_find_and_find_many_agree() -> None:
    m = RangeMap([(0x1000, 0x2000, "a"), (0x3000, 0x3010, "b"), (0, 1, "zero")])
    probes = [0, 1, 0xFFF, 0x1000, 0x1FFF, 0x2000, 0x300F, 0x3010]
    expected = [2, -1, -1, 0, 0, -1, 1, -1]
    # indices are in address order: zero(0), a(1), b(2)
    order = {"zero": 0, "a": 1, "b": 2}
    got = [m.index(p) for p in probes]
    assert got == [order[v] if e >= 0 else -1 for e, v in
                   zip(expected, ["zero", "x", "x", "a", "a", "x", "b", "x"], strict=True)]
    assert list(m.find_many(np.array(probes, dtype=np.uint64))) == got


def test_overlap_error_and_keep_first() -> None:
    with pytest.raises(ValueError):
        RangeMap([(0, 10, 1), (5, 15, 2)])
    m = RangeMap([(20, 30, "second"), (0, 50, "first")], Overlap.KEEP_FIRST)
    assert list(m) == [(0, 20, "first"), (20, 30, "second"), (30, 50, "first")]
    assert [(c.start, c.end) for c in m.conflicts] == [(20, 30)]


def test_zero_size_recorded_not_mapped() -> None:
    m = RangeMap([(5, 5, "empty"), (10, 20, "x")])
    assert m.find(5) is None
    assert m.empty == [(5, "empty")]


def test_top_of_64bit_space() -> None:
    top = 1 << 64
    m = RangeMap([(top - 0x1000, top, "last")])
    assert m.find(top - 1) == (top - 0x1000, top, "last")
    assert list(m.find_many(np.array([top - 1, top - 0x1001], dtype=np.uint64))) == [0, -1]

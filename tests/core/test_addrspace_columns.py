"""AddressSpace.from_columns / RangeMap.from_columns: same answers as the object path."""

from __future__ import annotations

import numpy as np
import pytest

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.core.rangemap import RangeMap
from memlens.core.region import Perms, Region, RegionKind
from memlens.errors import AddressError

DATA = BufferBacking(bytes(range(256)) * 4)
ROWS = [(0x1000, 0x100, 0, True), (0x1100, 0x100, 512, True), (0x1200, 0x100, 0, False),
        (0x2000, 0x10, 16, True)]  # fmt: skip


def _columns(rows: list[tuple[int, int, int, bool]] = ROWS, regions: object = ()) -> AddressSpace:
    return AddressSpace.from_columns(
        regions,  # type: ignore[arg-type]
        np.array([r[0] for r in rows], dtype=np.uint64),
        np.array([r[1] for r in rows], dtype=np.uint64),
        np.array([r[2] for r in rows], dtype=np.uint64),
        np.array([r[3] for r in rows], dtype=np.bool_),
        DATA,
    )


def _objects() -> AddressSpace:
    return AddressSpace([], [Segment(s, s + z, DATA if f else None, o) for s, z, o, f in ROWS])


@pytest.mark.parametrize(("address", "size", "pad"), [
    (0x1000, 8, False), (0x10FC, 8, False), (0x11FE, 4, True), (0x2008, 8, False),
    (0x1F00, 0x200, True), (0x1300, 4, True)])  # fmt: skip
def test_reads_match_the_object_path(address: int, size: int, pad: bool) -> None:
    assert _columns().read(address, size, pad=pad) == _objects().read(address, size, pad=pad)


@pytest.mark.parametrize(("address", "reason", "first"), [
    (0x11FE, "not saved", 0x1200), (0x0FFE, "unmapped", 0x0FFE),
    (0x200E, "unmapped", 0x2010)])  # fmt: skip
def test_errors_match_the_object_path(address: int, reason: str, first: int) -> None:
    for space in (_columns(), _objects()):
        with pytest.raises(AddressError) as err:
            space.read(address, 4)
        assert (err.value.reason, err.value.address) == (reason, first)


def test_segments_saved_ranges_and_find_are_built_on_demand() -> None:
    space, ref = _columns(), _objects()
    assert space._segments is None  # nothing built until asked
    assert list(space.segments) == list(ref.segments)
    assert list(space.saved_ranges()) == list(ref.saved_ranges())
    assert list(space.find(bytes([0x10, 0x11]))) == list(ref.find(bytes([0x10, 0x11])))
    assert space.segment_at(0x1250) == Segment(0x1200, 0x1300, None, 0)
    assert space.saved_bytes(0x1000, 0x3000) == 0x210


def test_regions_factory_runs_once_on_first_use() -> None:
    calls = []
    region = Region(0x1000, 0x1300, Perms(), 0, "a", RegionKind.ANON)

    def make() -> list[Region]:
        calls.append(1)
        return [region]

    space = _columns(regions=make)
    assert space.read(0x1000, 2) == b"\0\1" and calls == []
    assert space.region_at(0x1234) == region and space.regions == [region]
    assert calls == [1]


def test_row_ending_at_the_top_of_the_space() -> None:
    top = 1 << 64
    space = _columns([(top - 0x100, 0x100, 0, True)])
    assert space.read(top - 4, 4) == bytes([0xFC, 0xFD, 0xFE, 0xFF])
    assert list(space.segments) == [(top - 0x100, top, Segment(top - 0x100, top, DATA, 0))]


@pytest.mark.parametrize("rows", [
    [(0x1000, 0x100, 0, True), (0x10FF, 0x10, 0, True)],  # overlap
    [(0x2000, 0x10, 0, True), (0x1000, 0x10, 0, True)],  # unsorted
    [(0x1000, 0, 0, True)],  # empty
    [((1 << 64) - 0x10, 0x20, 0, True)]])  # wraps  # fmt: skip
def test_bad_tables_are_refused(rows: list[tuple[int, int, int, bool]]) -> None:
    with pytest.raises(ValueError, match="sorted, non-empty, disjoint"):
        _columns(rows)


def test_rangemap_from_columns() -> None:
    rm = RangeMap.from_columns([1, 5], [3, 9], ["a", "b"])
    assert list(rm) == [(1, 3, "a"), (5, 9, "b")] and rm.find(6) == (5, 9, "b")
    assert rm.find(4) is None
    assert rm.find_many(np.array([2, 4, 8], dtype=np.uint64)).tolist() == [0, -1, 1]
    with pytest.raises(ValueError, match="out of order"):
        RangeMap.from_columns([1, 2], [3, 4], ["a", "b"])
    with pytest.raises(ValueError, match="different lengths"):
        RangeMap.from_columns([1], [3, 4], ["a"])

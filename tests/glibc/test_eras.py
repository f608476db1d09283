"""Older glibc layouts, from an independent writer (tests/glibc/synth.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.core.region import Perms, Region, RegionKind
from memlens.errors import MemlensError
from memlens.glibc.chunktable import State
from memlens.glibc.leakreport import leak_report
from memlens.glibc.walk import walk_heap
from tests.glibc.synth import HEAP, build


@pytest.mark.parametrize("era", ["2.26", "2.27"])
def test_older_layouts(era: str) -> None:
    snap, expected = build(era)
    walk = walk_heap(snap)
    assert walk.method.startswith("structure: ")
    assert walk.layout.have_fastchunks == (era != "2.26")
    assert walk.findings == [] and walk.complete
    assert walk.tcache_wide is False and walk.safe_linking is False
    st = walk.chunks.state
    assert int((st == State.TCACHE).sum()) == expected.tcache
    assert int((st == State.FASTBIN).sum()) == expected.fastbin
    assert int((st == State.SMALLBIN).sum()) == expected.smallbin
    assert int((st == State.ALLOCATOR).sum()) == 1  # the tcache struct
    mi = walk.mallinfo()
    assert mi["keepcost"] == expected.top and mi["arena"] == expected.system_mem
    assert mi["smblks"] == 1 and mi["ordblks"] == 2
    assert mi["fordblks"] == expected.top + 0x20 + 0x90


def test_unwalkable_heap_gives_findings() -> None:
    snap, _ = build("2.27", first=0x10)
    walk = walk_heap(snap)
    assert not walk.complete and len(walk.chunks) == 0
    checks = {f.check for f in walk.findings}
    assert {"chunk size", "listed chunk not walked", "top"} <= checks


@settings(max_examples=300, deadline=None)
@given(era=st.sampled_from(["2.26", "2.27"]),
       edits=st.lists(st.tuples(st.booleans(), st.integers(0, 0x1FFF // 8),
                                st.sampled_from([0, 1, 0x20, 0x21, 0x31, 0x90, 0x251, 1 << 40,
                                                 0x4141414141414141, (1 << 64) - 1, None])),
                      min_size=1, max_size=6))  # fmt: skip
def test_damaged_synthetic_heaps(era: str, edits: list[tuple[bool, int, int | None]]) -> None:
    """Words of the arena or the heap overwritten: findings or a MemlensError only."""
    snap, _ = build(era)
    pieces = {s.start: bytearray(s.backing.read(0, s.size))  # type: ignore[union-attr]
              for _, _, s in snap.space.segments}  # fmt: skip
    libc, heap = sorted(pieces)
    for in_arena, index, value in edits:
        buf = pieces[libc] if in_arena else pieces[heap]
        at = (0x100 + index * 8) % (len(buf) - 8) if in_arena else index * 8
        old = int.from_bytes(buf[at:at + 8], "little")
        new = old ^ (1 << (index % 64)) if value is None else value
        buf[at:at + 8] = new.to_bytes(8, "little")
    segments = [Segment(s, s + len(b), BufferBacking(bytes(b))) for s, b in pieces.items()]
    snap.space = AddressSpace(snap.regions, segments, word_size=8)
    try:
        report = leak_report(snap)
    except MemlensError:
        return
    assert len(report.walk.chunks) <= 0x21000 // 16


@pytest.mark.parametrize(("damage", "check", "where"), [
    ("count", "tcache count", None),
    ("bk", "bin links", "small"),
    ("fastloop", "fastbin loop", "fast"),
    ("prev_size", "prev_size", "small"),
    ("unbinned", "free chunk not in a bin", "used7"),
    ("misaligned", "tcache alignment", None),
])  # fmt: skip
def test_each_check(damage: str, check: str, where: str | None) -> None:
    snap, _ = build("2.27", damage=damage)
    walk = walk_heap(snap)
    hits = [f for f in walk.findings if f.check == check]
    assert len(hits) == 1, walk.findings
    chunks = {"small": 0x250 + 8 * 0x30 + 0x20 + 0x30, "fast": 0x250 + 8 * 0x30,
              "used7": 0x250 + 7 * 0x30}
    if where is not None:  # the chunk the check concerns (prev_size: the free one before)
        assert hits[0].chunk == HEAP + chunks[where]


def test_huge_unsaved_region_costs_nothing() -> None:
    """A 16 TiB read-write reservation a dump recorded but did not save (ASan's
    shadow, say) is neither scanned for mmapped chunks nor as a root."""
    snap, _ = build("2.27")
    huge = Region(0x10000000000, 0x10000000000 + (16 << 40), Perms(True, True), 0, "",
                  RegionKind.ANON)  # fmt: skip
    segments = [s for _, _, s in snap.space.segments] + [Segment(huge.start, huge.end, None)]
    snap.space = AddressSpace([*snap.regions, huge], segments, word_size=8)
    report = leak_report(snap)
    assert report.walk.findings == [] and report.summary["still reachable"][0] == 0

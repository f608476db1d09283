"""Older glibc layouts, from an independent writer (tests/glibc/synth.py)."""

from __future__ import annotations

import pytest

from memlens.glibc.table import State
from memlens.glibc.walk import walk_heap
from tests.glibc.synth import build


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

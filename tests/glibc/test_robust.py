"""Damaged heaps: findings and partial results, never a traceback or a hang.

A real core's heap is damaged at random (bit flips, words overwritten with
plausible sizes, pointers and zeros) and walked again; only findings come
out, the walk stays bounded, and the arena is found by structure too.
"""

from __future__ import annotations

import mmap
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.errors import MemlensError
from memlens.glibc.arenas import by_structure, by_symbols
from memlens.glibc.leakreport import leak_report
from memlens.glibc.walk import walk_heap
from memlens.targets import open_target
from tests.glibc.programs import build, gcore, running

Core = tuple[Path, list[tuple[int, int]]]


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Core:
    """A gcore of an 8-thread heap, and (file offset, size) of the places damaged: the
    main heap, the main arena, and a thread arena's heap_info + arena + first chunks."""
    tmp = tmp_path_factory.mktemp("robust")
    exe = build("arenas", tmp)
    with running(exe, "8", "fbm") as (proc, _):
        path = gcore(proc.pid, tmp / "core")
    with open_target(str(path)) as snap:
        walk = walk_heap(snap)
        start, end = walk.arenas[0].heaps[0]
        thread = walk.arenas[1].address & ~(walk.layout.heap_max - 1)
        places = []
        for at, size in ((start, end - start), (walk.arenas[0].address, 2200), (thread, 4096)):
            seg = snap.space.segment_at(at)
            assert seg is not None and seg.backing is not None
            places.append((seg.backing_offset + at - seg.start, size))
        return path, places


def test_structure_finds_the_symbols_arena(core: Core) -> None:
    with open_target(str(core[0])) as snap:
        found, _ = by_symbols(snap)
        guessed = by_structure(snap)
    if found is None:
        pytest.skip("no libc debug symbols (libc6-dbg) to compare with")
    assert guessed is not None
    assert guessed.main_arena == found.main_arena and guessed.layout == found.layout


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damage_gives_findings_not_tracebacks(core: Core, tmp_path: Path,
                                              data: st.DataObject) -> None:  # fmt: skip
    path, places = core
    copy = tmp_path / "damaged.core"
    shutil.copyfile(path, copy)
    with open(copy, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        for _ in range(data.draw(st.integers(1, 8))):
            offset, size = data.draw(st.sampled_from(places))
            i = data.draw(st.integers(0, size // 8 - 1))
            value = data.draw(st.sampled_from([0, 1, 0x21, 0x31, 0x4141414141414141, 1 << 40,
                                               0x7FFFFFFF0000, None]))  # fmt: skip
            at = offset + i * 8
            old = int.from_bytes(m[at:at + 8], "little")
            new = old ^ (1 << data.draw(st.integers(0, 63))) if value is None else value
            m[at:at + 8] = new.to_bytes(8, "little")
    try:
        with open_target(str(copy)) as snap:
            report = leak_report(snap)
    except MemlensError:
        return
    assert len(report.walk.chunks) < sum(size for _, size in places) // 16 + 100_000
    for f in report.walk.findings:
        assert f.message and isinstance(f.address, int)

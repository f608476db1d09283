"""The columnar open path gives the same address space, regions and warnings as the general one.

Random small dumps (overlapping, unsorted, contained and uncovered ranges,
MemoryInfoList or not) are opened both ways; where the fast path declines it
must return ``None``, never a different answer.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.core.addrspace import AddressSpace
from memlens.core.backing import BufferBacking
from memlens.core.region import Region
from memlens.sources.minidump import reader
from memlens.sources.minidump.columnar import fast_space
from memlens.sources.minidump.dumpfile import MinidumpFile
from memlens.sources.minidump.memory import memory_ranges

from .synth import Synth

PAGE = 0x1000
BASE = 0x7F0000000000


Opened = tuple[AddressSpace | None, list[str]]


def _open(path: Path, fast: bool) -> Opened:
    dump = MinidumpFile(str(path))
    backing = BufferBacking(dump.buffer)
    modules = reader._modules(dump)
    threads, _ = reader._threads(dump, None)
    if fast:
        def regions() -> list[Region]:
            return reader._regions(dump, modules, threads, lambda: memory_ranges(dump))

        space = fast_space(dump, backing, regions, 8)
    else:
        arch = reader._arch(dump, None, threads)
        space = reader._general_space(dump, backing, modules, threads, arch)
    return space, list(dump.warnings)


def _spaces(path: Path) -> tuple[Opened, Opened]:
    return _open(path, True), _open(path, False)


def _table(space: AddressSpace) -> list[tuple[int, int, bool, int]]:
    return [(s, e, v.saved, v.backing_offset if v.saved else 0) for s, e, v in space.segments]


SLOT = 3 * PAGE  # ranges of 1-2 pages in 3-page slots: disjoint unless a test adds overlap
slots = st.lists(st.tuples(st.integers(0, 12), st.integers(1, 2)), max_size=8,
                 unique_by=lambda t: t[0])  # fmt: skip
infos_st = st.lists(st.tuples(st.integers(0, 14), st.integers(1, 3),
                              st.sampled_from([0x1000, 0x2000, 0x10000]),
                              st.sampled_from([0x01, 0x02, 0x04, 0x20])),
                    max_size=8, unique_by=lambda t: t[0])  # fmt: skip


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(m64=slots, inside=st.lists(st.integers(0, 7), max_size=3), stray=st.booleans(),
       overlap=st.booleans(), infos=st.one_of(st.none(), infos_st), shuffle=st.booleans())
def test_fast_path_matches_general_path(
    tmp_path: Path, m64: list[tuple[int, int]], inside: list[int], stray: bool, overlap: bool,
    infos: list[tuple[int, int, int, int]] | None, shuffle: bool,
) -> None:  # fmt: skip
    s = Synth()
    chunks = [(BASE + i * SLOT, bytes([i]) * (n * PAGE)) for i, n in m64]
    if overlap and chunks:
        chunks.append((chunks[0][0] + 8, b"o" * PAGE))
    s.memory64_list(chunks)
    # MemoryList repeats inside Memory64List ranges (Windows), perhaps one outside them.
    listed = [(chunks[k][0] + 8 * (j + 1), b"m" * 64)
              for j, k in enumerate(inside) if k < len(chunks)]  # fmt: skip
    if stray:
        listed.append((BASE + 100 * SLOT, b"s" * 64))
    if listed:
        s.memory_list(listed)
    if infos is not None:
        rows = sorted(infos, reverse=shuffle)  # reversed: out of order, the general path's job
        s.memory_info_list([(BASE + i * SLOT, n * PAGE, state, p, 0x20000)
                            for i, n, state, p in rows])  # fmt: skip
    path = tmp_path / "x.dmp"
    path.write_bytes(s.build())
    (fast, fast_warnings), (general, general_warnings) = _spaces(path)
    assert general is not None
    # The fast path must take exactly the dumps that need no repair (columnar.py's
    # rules), judged here from what this test wrote, not from the reader's answer.
    repeats = [k for k in inside if k < len(chunks)]
    # MEM_FREE (0x10000) rows of the MemoryInfoList are not regions: only the others' order counts
    info_regions = [row for row in infos or () if row[2] != 0x10000]
    needs_repair = (
        (overlap and bool(m64))  # Memory64List ranges overlap
        or stray  # a MemoryList range outside every Memory64List range
        or len(repeats) != len(set(repeats))  # two MemoryList repeats in one range overlap
        or (shuffle and len(info_regions) > 1)  # MemoryInfoList regions out of order
    )
    assert (fast is None) == needs_repair
    if fast is None:
        return  # the general path answers (checked by the tests of memory.py)
    assert fast_warnings == general_warnings
    assert _table(fast) == _table(general)
    assert fast.regions == general.regions
    for start, end, _ in general.segments:
        assert fast.read(start, end - start, pad=True) == general.read(start, end - start, pad=True)


def test_clean_full_dump_takes_the_fast_path(tmp_path: Path) -> None:
    s = Synth()
    s.memory64_list([(BASE + 2 * i * PAGE, bytes([i]) * PAGE) for i in range(3)])
    s.memory_list([(BASE + 8, b"\0" * 16)])  # repeated inside the first range, as Windows does
    s.memory_info_list([(BASE + 2 * i * PAGE, PAGE, 0x1000, 0x04, 0x20000) for i in range(3)]
                       + [(BASE + 7 * PAGE, PAGE, 0x1000, 0x02, 0x20000)])  # not saved
    path = tmp_path / "x.dmp"
    path.write_bytes(s.build())
    (fast, warnings), (general, _) = _spaces(path)
    assert fast is not None and general is not None and warnings == []
    assert _table(fast) == [(BASE, BASE + PAGE, True, _table(general)[0][3]),
                            (BASE + 2 * PAGE, BASE + 3 * PAGE, True, _table(general)[1][3]),
                            (BASE + 4 * PAGE, BASE + 5 * PAGE, True, _table(general)[2][3]),
                            (BASE + 7 * PAGE, BASE + 8 * PAGE, False, 0)]  # fmt: skip
    assert fast.read(BASE + 2 * PAGE, 2) == b"\1\1"
    assert [r.perms.write for r in fast.regions] == [True, True, True, False]


def test_overlapping_memory64_ranges_decline(tmp_path: Path) -> None:
    s = Synth()
    s.memory64_list([(BASE, b"a" * PAGE), (BASE + 8, b"b" * 16)])
    path = tmp_path / "x.dmp"
    path.write_bytes(s.build())
    (fast, _), (_, warnings) = _spaces(path)
    assert fast is None
    assert warnings == ["overlapping Memory64List ranges (the first one kept): "
                        f"[{BASE + 8:#x}, {BASE + 24:#x})"]  # fmt: skip

"""MEMLENS page notes: round trip through a written core, and hostile variants."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memlens
from memlens.core.pages import PageTable
from memlens.core.region import Perms, Region, RegionKind
from memlens.sources.elfcore import pagenote
from memlens.sources.elfcore.writer import (
    CoreLayout,
    ProcessFacts,
    ThreadState,
    build_notes,
    write_core,
)
from memlens.sources.live.coredump import present_runs
from tests.sources.fuzzing import exercise, flip

PAGE = 4096
REGIONS = [
    Region(0x10000, 0x14000, Perms(True, True, False), 0, "[heap]", RegionKind.HEAP),
    Region(0x20000, 0x21000, Perms(True, False, True), 0x3000, "/bin/x", RegionKind.FILE, "/bin/x"),
    Region(0x7F0000000000, 0x7F0040000000, Perms(False, False, False), 0, "", RegionKind.ANON),
]


def _tables() -> list[PageTable]:
    heap = np.array([1 << 63 | 0x1234, 0, 1 << 63 | 1 << 61 | 0x99, 1 << 62 | 0x20],
                    dtype=np.uint64)  # fmt: skip
    big = np.zeros(0x40000, dtype=np.uint64)
    big[-1] = 1 << 63 | 7  # a sparse 1 GiB reservation with one page at its end
    return [
        PageTable(
            0x10000,
            PAGE,
            heap,
            np.array([1, 0, 3, 0], dtype=np.uint64),
            np.array([1 << 12, 0, 1 << 5, 0], dtype=np.uint64),
            {},
        ),
        PageTable(
            0x20000,
            PAGE,
            np.array([1 << 63 | 5], dtype=np.uint64),
            None,
            None,
            {"pfn": "needs CAP_SYS_ADMIN"},
        ),
        PageTable(0x7F0000000000, PAGE, big, None, None, {}),
    ]


def _core() -> bytes:
    facts = ProcessFacts(pid=77, ppid=1, pgrp=77, sid=1, uid=0, gid=0, state="S", comm="x",
                         args="x --y")  # fmt: skip
    tables = _tables()
    info = {"pid": 77, "unavailable": {str(t.start): t.unavailable for t in tables
                                       if t.unavailable}}  # fmt: skip
    memory = {0x10000: b"H" * 0x4000, 0x20000: b"X" * 0x1000}

    def read(addr: int, n: int) -> bytes:
        for start, data in memory.items():
            if start <= addr < start + len(data):
                return data[addr - start : addr - start + n]
        raise memlens.AddressError(addr)

    def notes(layout: CoreLayout) -> bytes:
        extra = [(b"MEMLENS", pagenote.NT_MEMLENS_INFO, pagenote.encode_info(info))]
        extra += [(b"MEMLENS", pagenote.NT_MEMLENS_PAGES,
                   pagenote.encode_pages(t, len(t), layout.runs[t.start])) for t in tables]
        return build_notes(facts, [ThreadState(77, b"")], REGIONS, PAGE, b"", 216, extra)

    # the pages present in each table, read as a snapshot reads them (none of the
    # unreadable region)
    wanted = {r.start: present_runs(t) for r, t in zip(REGIONS, tables, strict=True)
              if r.perms.read}  # fmt: skip
    out = io.BytesIO()
    write_core(out, machine=62, regions=REGIONS, notes=notes, page_size=PAGE, read=read,
               wanted=wanted)
    return out.getvalue()


@pytest.fixture(scope="module")
def core_bytes() -> bytes:
    return _core()


def test_round_trip(tmp_path: Path, core_bytes: bytes) -> None:
    path = tmp_path / "snap.core"
    path.write_bytes(core_bytes)
    with memlens.open(str(path)) as snap:
        assert snap.has_residency and snap.pid == 77 and snap.command_line == "x --y"
        for want, region in zip(_tables(), snap.regions, strict=True):
            got = snap.page_table(region)
            assert got is not None
            if len(want.entries) > pagenote.MAX_TABLE_PAGES:
                # sparse and huge: expanded up to its last non-zero entry, marked partial
                assert got.partial and np.array_equal(got.entries, want.entries)
            else:
                assert np.array_equal(got.entries, want.entries) and not got.partial
            for name in ("counts", "flags"):
                a, b = getattr(got, name), getattr(want, name)
                assert (a is None and b is None) or np.array_equal(a, b)
            assert got.unavailable == want.unavailable
        assert snap.space.read(0x10000, 2) == b"HH"
        # the heap's page 1 was not present and page 3 swapped: neither was read
        assert snap.space.read(0x12000, 1) == b"H"
        for absent in (0x11000, 0x13000):
            with pytest.raises(memlens.AddressError, match="not saved"):
                snap.space.read(absent, 1)
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(0x7F0000000000, 1)


def _notes_span(data: bytes) -> tuple[int, int]:
    off, size = (
        struct.unpack_from("<QQ", data, 64 + 8)[0],
        struct.unpack_from("<Q", data, 64 + 32)[0],
    )
    return off, off + size


def test_every_prefix_of_the_notes(tmp_path: Path, core_bytes: bytes) -> None:
    lo, hi = _notes_span(core_bytes)
    path = tmp_path / "cut"
    for cut in range(lo, hi + 1, 3):
        path.write_bytes(core_bytes[:cut])
        exercise(path, "elfcore")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.integers(0, 1 << 20), min_size=1, max_size=6))
def test_bit_flips_in_notes(tmp_path: Path, core_bytes: bytes, picks: list[int]) -> None:
    lo, hi = _notes_span(core_bytes)
    data = core_bytes
    for p in picks:
        data = flip(data, 8 * lo + p % (8 * (hi - lo)))
    path = tmp_path / "flipped"
    path.write_bytes(data)
    exercise(path, "elfcore")


@pytest.mark.parametrize("field", ["npages", "nnz", "page_size"])
@pytest.mark.parametrize("value", [0, 1 << 40, (1 << 64) - 1])
def test_huge_header_fields(tmp_path: Path, core_bytes: bytes, field: str, value: int) -> None:
    at = core_bytes.find(pagenote.PAGES_MAGIC)
    offset, fmt = {"npages": (24, "<Q"), "nnz": (40, "<Q"), "page_size": (8, "<I")}[field]
    value &= (1 << (8 * struct.calcsize(fmt))) - 1
    data = (
        core_bytes[: at + offset]
        + struct.pack(fmt, value)
        + core_bytes[at + offset + struct.calcsize(fmt) :]
    )
    path = tmp_path / "huge"
    path.write_bytes(data)
    exercise(path, "elfcore")
    with memlens.open(str(path)) as snap:
        assert snap.space.read(0x10000, 1) == b"H"  # the bytes stay readable
        warned = [w for w in snap.warnings if "MEMLENS note" in w]
        if field == "npages" and value:
            assert warned == []  # the header is consistent; the region size is not
            with pytest.raises(memlens.FormatError, match=r"lists \d+ pages; the region has 4"):
                snap.page_table(snap.regions[0])
        else:
            assert len(warned) == 1 and snap.page_table(snap.regions[0]) is None


def test_version_1_notes_still_read() -> None:
    """Cores written before the saved runs existed: every byte up to filesz was saved."""
    index, entries = [0, 2], [1 << 63 | 0x1234, 1 << 62 | 0x20]
    desc = struct.pack("<4sHHIIQQQ", b"MLPT", 1, 0, PAGE, 0, 0x10000, 4, 2)
    desc += struct.pack("<4Q", *index, *entries)
    note = pagenote.decode_pages(desc)
    assert note.saved_runs() is None and note.npages == note.listed == 4
    table = note.table({})
    assert table.entries.tolist() == [entries[0], 0, entries[1], 0] and not table.partial

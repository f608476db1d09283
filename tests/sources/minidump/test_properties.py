"""Hostile input: prefixes, bit flips and huge counts of every fixture -> only MemlensError.

Each case opens the file and then walks everything a user can ask for (every
stream's blocks, every saved byte), so a parser that only fails late is caught.
"""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.analyses.minidump_streams import all_blocks
from memlens.errors import MemlensError
from memlens.sources.minidump.reader import load
from memlens.sources.options import OpenOptions

from .synth import Synth

FIXTURE_OK = HealthCheck.function_scoped_fixture  # tmp_path is only overwritten per example
FIXTURES = ["minidump2.dmp", "linux_raise_sigabrt.dmp", "linux_inline.dmp",
            "tiny-exe-with-cet-xsave.dmp", "regions-memlist64.dmp", "invalid-range.dmp",
            "invalid-record-count.dmp"]  # fmt: skip


def exercise(path: Path) -> None:
    """Open and walk; only MemlensError may escape."""
    try:
        snap = load(str(path), OpenOptions())
    except MemlensError:
        return
    with snap:
        all_blocks(snap.dump)
        for start, end, _ in snap.space.saved_ranges():
            snap.space.read(start, min(end - start, 1 << 20))
        for t in snap.threads:
            _ = t.registers, t.pc, t.sp


def boundaries(data: bytes) -> set[int]:
    """Offsets where a structure starts or ends: the header, directory and every stream."""
    cuts = {0, 1, 3, 4, 31, 32, 33}
    if len(data) >= 32 and data[:4] == b"MDMP":
        count, rva = struct.unpack_from("<II", data, 8)
        for i in range(min(count, 64)):
            off = rva + 12 * i
            cuts |= {off, off + 12}
            if off + 12 <= len(data):
                _, size, srva = struct.unpack_from("<III", data, off)
                cuts |= {srva - 1, srva, srva + 4, srva + 8, srva + size - 1, srva + size}
    return {c for c in cuts if 0 <= c <= len(data)}


@pytest.fixture(scope="module")
def md(fixtures_dir: Path) -> Path:
    return fixtures_dir / "minidump"


@pytest.mark.parametrize("name", FIXTURES)
def test_prefixes(md: Path, tmp_path: Path, name: str) -> None:
    data = (md / name).read_bytes()
    # Every prefix of the small files; of the large ones every structure boundary
    # plus a stride that keeps the test within seconds.
    stride = 1 if len(data) <= 4096 else (64 if len(data) <= 16384 else 1024)
    lengths = set(range(0, len(data) + 1, stride)) | boundaries(data)
    target = tmp_path / "prefix.dmp"
    for n in sorted(lengths):
        target.write_bytes(data[:n])
        exercise(target)


@pytest.mark.parametrize("name", FIXTURES)
@settings(max_examples=60, deadline=5000, suppress_health_check=[FIXTURE_OK])
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1,
                      max_size=8))  # fmt: skip
def test_bit_flips(md: Path, tmp_path: Path, name: str, flips: list[tuple[int, int]]) -> None:
    data = bytearray((md / name).read_bytes())
    # Aim at the first 4 KiB (header, directory, stream headers) three times out of four.
    for i, (pos, bit) in enumerate(flips):
        span = len(data) if i % 4 == 3 else min(len(data), 4096)
        data[pos % span] ^= 1 << bit
    target = tmp_path / "flipped.dmp"
    target.write_bytes(bytes(data))
    exercise(target)


HUGE = [0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0x10000, 0xFFFFFFFFFFFFFFFF, 1 << 40]


def huge_variants(data: bytes) -> list[bytes]:
    """Each stream's size, rva, and first count word set to huge values."""
    out = []
    count, rva = struct.unpack_from("<II", data, 8)
    for value in HUGE[:4]:
        out.append(data[:8] + struct.pack("<I", value) + data[12:])
    for i in range(count):
        off = rva + 12 * i
        _, _, srva = struct.unpack_from("<III", data, off)
        for value in HUGE:
            v32 = value & 0xFFFFFFFF
            out.append(data[: off + 4] + struct.pack("<I", v32) + data[off + 8 :])
            out.append(data[: off + 8] + struct.pack("<I", v32) + data[off + 12 :])
            if srva + 8 <= len(data):
                out.append(data[:srva] + struct.pack("<Q", value) + data[srva + 8 :])
                out.append(data[:srva] + struct.pack("<I", v32) + data[srva + 4 :])
    return out


@pytest.mark.parametrize("name", ["minidump2.dmp", "linux_raise_sigabrt.dmp",
                                  "linux_inline.dmp", "regions-memlist64.dmp"])  # fmt: skip
def test_huge_counts_and_sizes_bounded_memory(md: Path, tmp_path: Path, name: str) -> None:
    data = (md / name).read_bytes()
    target = tmp_path / "huge.dmp"
    variants = huge_variants(data)
    assert len(variants) > 50
    tracemalloc.start()
    try:
        for variant in variants:
            target.write_bytes(variant)
            tracemalloc.reset_peak()
            exercise(target)
            _, peak = tracemalloc.get_traced_memory()
            # Nothing is allocated by a claimed size: the peak stays within a
            # small multiple of the file (the hex text of every region) plus slack.
            assert peak < 8 * len(data) + (2 << 20), (peak, len(data))
    finally:
        tracemalloc.stop()


@settings(max_examples=80, deadline=5000, suppress_health_check=[FIXTURE_OK])
@given(counts=st.lists(st.sampled_from([*HUGE, 0, 1, 3]), min_size=6, max_size=6),
       endian=st.sampled_from(["<", ">"]))  # fmt: skip
def test_synthetic_hostile_lists(tmp_path: Path, counts: list[int], endian: str) -> None:
    s = Synth(endian)
    s.system_info()
    for stream_type, count in zip((3, 4, 5, 9, 16, 24), counts, strict=True):
        head = s.p("Q", count) if stream_type in (9, 16) else s.p("I", count & 0xFFFFFFFF)
        if stream_type == 16:
            head = s.p("II", 16, 48) + s.p("Q", count)
        s.stream(stream_type, head + bytes(48))
    target = tmp_path / "hostile.dmp"
    target.write_bytes(s.build())
    exercise(target)

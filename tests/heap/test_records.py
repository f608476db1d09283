"""The record scanner and the .mlheap file on synthetic inputs from an independent writer."""

from __future__ import annotations

import contextlib
import struct
import subprocess
from pathlib import Path

import heap_programs as progs
import numpy as np
import pytest
from heap_helpers import build, live_profile, report_of, start_under_shim
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.cli.main import main
from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.core.region import Perms, Region
from memlens.errors import FormatError
from memlens.heap import profile_file
from memlens.heap.records import scan_space
from memlens.heap.runner import RunOptions, run_under_shim

# Written from the format description in the README, not from records.py.
START = b"MLHEAPr1"
END = b"MLHEAPe1"


def record(bo: str, frames: list[int], size: int, seq: int, tid: int, *,
           flags: int = 1, version: int = 1, start: bytes = START, end: bytes = END,
           period: int = 0) -> bytes:  # fmt: skip
    q = bo + "Q"
    magic_s = start if bo == "<" else start[::-1]
    magic_e = end if bo == "<" else end[::-1]
    body = magic_s + struct.pack(q, version | flags << 16 | len(frames) << 32)
    body += b"".join(struct.pack(q, f) for f in frames)
    body += struct.pack(bo + "QQQQ", size, seq, tid | period << 32, 64)
    return body + magic_e


def heap_image(bo: str, base: int) -> tuple[bytes, list[tuple[int, int, list[int]]]]:
    """An image with valid records at 16-aligned user addresses plus decoys."""
    img = bytearray(64 * 1024)
    expect = []
    pos = 0x100
    for i, nf in enumerate([0, 1, 3, 16, 64]):
        frames = [0x400000 + 0x10 * i + j for j in range(nf)]
        # Version 2 keeps the stack's table id in the sequence word's bits 40-63.
        v2 = i % 2 == 1
        rec = record(bo, frames, 100 + i, i | (i + 5) << 40 if v2 else i, 7, version=1 + v2)
        user = pos + len(rec)
        if user % 16:
            pos += 8
            user += 8
        img[pos : pos + len(rec)] = rec
        expect.append((base + user, 100 + i, frames))
        pos = user + 100 + i + 64
        pos = (pos + 15) & ~15
    decoys = [
        record(bo, [1], 5, 0, 0, version=3),  # unknown version (2 is the stack-id one)
        record(bo, [1], 5, 0, 0, end=b"MLHEAPx1"),  # broken end magic
        record(bo, list(range(65)), 5, 0, 0),  # too many frames
        record(bo, [1], 1 << 40, 0, 0),  # block larger than its region
    ]
    for d in decoys:
        user = pos + len(d)
        if user % 16:
            pos += 8
        img[pos : pos + len(d)] = d
        pos = (pos + len(d) + 256 + 15) & ~15
    # A misaligned copy of a valid record (start at 4 mod 8) is not a record.
    odd = record(bo, [9], 8, 0, 0)
    img[pos + 4 : pos + 4 + len(odd)] = odd
    assert len(img) == 64 * 1024
    return bytes(img), expect


@pytest.mark.parametrize("bo,name", [("<", "little"), (">", "big")])
def test_scanner_finds_exactly_the_valid_records(bo: str, name: str) -> None:
    base = 0x7F0000000000
    img, expect = heap_image(bo, base)
    region = Region(base, base + len(img), Perms(write=True), name="[heap]")
    space = AddressSpace([region], [Segment(base, base + len(img), BufferBacking(img))],
                         byteorder=name)  # type: ignore[arg-type]  # fmt: skip
    blocks, warnings = scan_space(space)
    assert warnings == []
    assert [int(a) for a in blocks.address] == [e[0] for e in expect]
    assert [int(s) for s in blocks.size] == [e[1] for e in expect]
    assert [blocks.stacks[i] for i in blocks.stack_id] == [tuple(e[2]) for e in expect]
    assert {int(t) for t in blocks.tid} == {7}
    assert [int(s) for s in blocks.seq] == list(range(5))


def test_read_only_and_unsaved_regions_are_not_scanned() -> None:
    base = 0x10000
    img, _ = heap_image("<", base)
    ro = Region(base, base + len(img), Perms(write=False), name="ro")
    space = AddressSpace([ro], [Segment(base, base + len(img), BufferBacking(img))])
    assert len(scan_space(space)[0]) == 0
    rw = Region(base, base + len(img), Perms(write=True), name="rw")
    space = AddressSpace([rw], [Segment(base, base + len(img), None)])
    assert len(scan_space(space)[0]) == 0


def test_heap_file_round_trip(tmp_path: Path) -> None:
    base = 0x7F0000000000
    img, _ = heap_image("<", base)
    region = Region(base, base + len(img), Perms(write=True), name="[heap]")
    space = AddressSpace([region], [Segment(base, base + len(img), BufferBacking(img))])
    blocks, _ = scan_space(space)
    prof = profile_file.HeapProfile(blocks=blocks, modules=[], source="x", format="test", pid=5)
    again = profile_file.loads(profile_file.dumps(prof))
    assert again.pid == 5
    for c in ("address", "size", "seq", "tid", "flags", "stack_id"):
        assert np.array_equal(getattr(again.blocks, c), getattr(blocks, c)), c
    assert again.blocks.stacks == blocks.stacks


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, 10_000),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
)
def test_heap_file_fuzz_only_format_errors(cut: int, flips: list[tuple[int, int]]) -> None:
    base = 0x7F0000000000
    img, _ = heap_image("<", base)
    region = Region(base, base + len(img), Perms(write=True), name="[heap]")
    seg = Segment(base, base + len(img), BufferBacking(img))
    blocks, _ = scan_space(AddressSpace([region], [seg]))
    data = bytearray(profile_file.dumps(profile_file.HeapProfile(blocks, [], "x", "t")))
    for pos, x in flips:
        if pos < len(data):
            data[pos] ^= x
    data = data[: len(data) - cut % (len(data) + 1)] if cut % 3 == 0 else data
    with contextlib.suppress(FormatError):
        profile_file.loads(bytes(data))


def test_huge_counts_are_refused_before_allocating() -> None:
    header = b'{"n": 1000000000000, "m": 0, "k": 0}'
    data = b"MLHEAPF\0" + struct.pack("<II", 1, len(header)) + header
    with pytest.raises(FormatError, match="tables need"):
        profile_file.loads(data)


def test_sampled_mode_estimates_the_heap(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    src = r"""
    #include <stdio.h>
    #include <stdlib.h>
    #include <unistd.h>
    void *volatile keep[20000];
    __attribute__((noinline)) void fill(void) {
        for (int i = 0; i < 20000; ++i) keep[i] = malloc(1000);
    }
    int main(void) { fill(); printf("ready\n"); fflush(stdout); pause(); }
    """
    exe = build(src, tmp_path / "sampled")
    proc, _ = start_under_shim([str(exe)], spawn, MEMLENS_SAMPLE="4096")
    report = report_of(live_profile(proc.pid))
    assert report.sampled
    fill = [g for g in report.groups if any(f.function == "fill" for f in g.frames)]
    assert len(fill) == 1
    g = fill[0]
    # P(sampled) = 1 - exp(-1000/4096) = 0.217: ~4300 of 20000 blocks carry stacks;
    # the estimate's relative standard deviation is ~1.9%, so 10% is > 5 sigma.
    assert 2000 < g.count < 7000
    assert abs(g.est_bytes - 20_000_000) < 2_000_000
    assert abs(g.est_count - 20000) < 2000
    assert report.total_bytes >= 20_000_000  # exact: every block has a record


def test_heap_diff_by_allocation_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = build(progs.SEED, tmp_path / "seed", "-O0")
    result = run_under_shim([str(exe)], RunOptions(out_dir=str(tmp_path / "out")))
    a, b = (s.path for s in result.snapshots[:2])
    assert main(["heap", "diff", a, b]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "+1048576 bytes +1 blocks (0 -> 1048576)"
    assert "another_func" in out[2]
    assert not any("example_func" in line for line in out)  # unchanged


def test_heap_of_a_process_without_the_shim_says_so(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    spawn.append(proc)  # type: ignore[arg-type]
    assert main(["heap", str(proc.pid)]) == 3
    assert "no shim records found" in capsys.readouterr().err
    assert report_of(live_profile(proc.pid)).total_count == 0


@settings(max_examples=200, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 64 * 1024 - 1), st.integers(1, 255)), max_size=40),
       big=st.booleans())  # fmt: skip
def test_scanner_on_damaged_memory_reports_only_consistent_records(
    flips: list[tuple[int, int]], big: bool
) -> None:
    bo, name = (">", "big") if big else ("<", "little")
    base = 0x7F0000000000
    img, _ = heap_image(bo, base)
    data = bytearray(img)
    for pos, x in flips:
        data[pos] ^= x
    region = Region(base, base + len(data), Perms(write=True), name="[heap]")
    space = AddressSpace([region], [Segment(base, base + len(data), BufferBacking(bytes(data)))],
                         byteorder=name)  # type: ignore[arg-type]  # fmt: skip
    blocks, _ = scan_space(space)
    for addr, size, sid in zip(blocks.address, blocks.size, blocks.stack_id, strict=True):
        a, n = int(addr), len(blocks.stacks[sid])
        assert a % 16 == 0 and a + int(size) <= base + len(data)
        assert space.read(a - 8, 8) == (END if bo == "<" else END[::-1])
        start = a - 8 * (7 + n)
        assert space.read(start, 8) == (START if bo == "<" else START[::-1])

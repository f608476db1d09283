"""Chromium memdump text: the android_init fixture's oracle, both variants, several PIDs."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memlens
from memlens.sources import memdump
from tests.sources.fuzzing import exercise, flip


def test_android_init_oracle(fixtures_dir: Path) -> None:
    with memlens.open(str(fixtures_dir / "memdump" / "android_init.memdump")) as snap:
        assert snap.format == "memdump" and snap.pid == 1
        assert len(snap.regions) == 9
        for unmapped in (0, 7999, 0x6D000):
            assert snap.space.region_at(unmapped) is None
        for mapped in (0x8000, 0x32FFF, 0x33000, 0xFFFF0000):
            assert snap.space.region_at(mapped) is not None
        stack = snap.space.region_at(0xBE8B7000)
        assert stack is not None and (stack.start, stack.end, stack.name) == (
            0xBE8B7000, 0xBE8D8000, "[stack]")  # fmt: skip
        table = snap.page_table(stack)
        assert table is not None and len(table) == 33
        assert table.present.tolist() == [False] * 29 + [True] * 4
        assert set(table.unavailable) == {"pfn", "count", "flags", "swap", "soft_dirty"}
        assert not table.pfn.any()
        # no bytes: every mapping reads as not saved
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(0x8000, 1)


def _line(start: int, end: int, bitmap: bytes, shared_app: str, name: str = "x") -> str:
    b64 = base64.b64encode(bitmap).decode()
    return (f"{start:x}-{end:x} rw-p 0 private_unevictable=0 private=4096 "
            f"shared_app={shared_app} shared_other_unevictable=0 shared_other=0 "
            f'"{name}" [{b64}]')  # fmt: skip


def test_variants_pids_and_trimmed_bitmaps(tmp_path: Path) -> None:
    text = "\n".join([
        "[ PID=10]",
        _line(0x1000, 0x9000, b"\x05", "[4096:8192,0:4096]", "/lib/a b.so"),  # current variant
        "[ PID=20]",
        _line(0x1000, 0x5000, b"\x0f", "[4096,8192]"),  # 2013 variant
        "",
    ])  # fmt: skip
    path = tmp_path / "dump.txt"
    path.write_text(text)
    with memlens.open(str(path)) as snap:
        assert snap.pid == 10
        assert snap.warnings == ["file holds 2 processes; showing PID 10 (choose with --pid: 20)"]
        region = snap.regions[0]
        assert (region.name, region.path) == ("/lib/a b.so", "/lib/a b.so")
        table = snap.page_table(region)
        assert table is not None
        # bits LSB first; the 1-byte bitmap covers 8 pages exactly
        assert np.flatnonzero(table.present).tolist() == [0, 2]
        assert snap.extra["stats"][0x1000]["shared_app"] == [[4096, 8192], [0, 4096]]
    with memlens.open(str(path), memlens.OpenOptions(pid=20)) as snap:
        assert snap.pid == 20 and snap.warnings == []
        table = snap.page_table(snap.regions[0])
        assert table is not None and table.present.tolist() == [True] * 4
        assert snap.extra["stats"][0x1000]["shared_app"] == [[4096], [8192]]
    with pytest.raises(memlens.UsageError, match="no PID 30; it holds 10, 20"):
        memlens.open(str(path), memlens.OpenOptions(pid=30))


def test_bad_lines_are_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("[ PID=1]\n" + _line(0x1000, 0x2000, b"\x01", "[]") + "\ngarbage\n")
    with pytest.raises(memlens.FormatError, match="line 3: not a memdump mapping line"):
        memlens.open(str(path))


def test_probe() -> None:
    assert memdump.probe(b"[ PID=1]\n")
    assert memdump.probe(_line(0, 0x1000, b"", "[]").encode())
    assert not memdump.probe(b"\x7fELF")
    assert not memdump.probe(b"00400000-00401000 r-xp 00000000 08:01 1 /bin/x\n")


def test_every_prefix(fixtures_dir: Path, tmp_path: Path) -> None:
    data = (fixtures_dir / "memdump" / "android_init.memdump").read_bytes()
    path = tmp_path / "prefix"
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        exercise(path, "memdump")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(0, 8 * 1500), min_size=1, max_size=6))
def test_bit_flips(fixtures_dir: Path, tmp_path: Path, bits: list[int]) -> None:
    data = (fixtures_dir / "memdump" / "android_init.memdump").read_bytes()
    for bit in bits:
        data = flip(data, bit % (8 * len(data)))
    path = tmp_path / "flipped"
    path.write_bytes(data)
    exercise(path, "memdump")


def test_huge_region_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text(_line(0, 0xFFFFFFFFFFFFF000, b"\xff\x01", "[]") + "\n")
    with memlens.open(str(path)) as snap:
        table = snap.page_table(snap.regions[0])
        assert table is not None and len(table) == 16 and table.partial
        assert int(table.present.sum()) == 9
    exercise(path)


def test_name_with_quotes_and_hostile_lines(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(_line(0x1000, 0x2000, b"\x01", "[]", 'a "quoted" name') + "\n")
    with memlens.open(str(path)) as snap:
        assert snap.regions[0].name == 'a "quoted" name'
    # A long line of quotes is refused in linear time (no regex backtracking).
    path.write_bytes(b"1000-2000 rw-p 0 " + b'"' * 200_000 + b"\n")
    with pytest.raises(memlens.FormatError, match="line 1: not a memdump mapping line"):
        memlens.open(str(path), memlens.OpenOptions(format="memdump"))

"""``.debug_aranges`` against readelf, and the parser under truncation and bit flips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.symbols.aranges import parse_aranges, section_bytes, unit_ranges
from memlens.symbols.elffile import ElfFile
from tests.conftest import need_tool
from tests.symbols.progs import build_generated


def _readelf_ranges(path: Path) -> list[tuple[int, int]]:
    out = subprocess.run([need_tool("readelf"), "--debug-dump=aranges", str(path)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and all(len(p) == 16 for p in parts):
            addr, size = int(parts[0], 16), int(parts[1], 16)
            if (addr, size) != (0, 0):
                found.append((addr, addr + size))
    return sorted(found)


def test_ranges_match_readelf(build_dir: Path) -> None:
    exe = build_generated(build_dir / "aranges", "-fPIE", "-pie", "-gdwarf-5")
    got = unit_ranges(str(exe))
    assert got is not None
    ours = sorted(zip(got[0].tolist(), got[1].tolist(), strict=True))
    assert ours == _readelf_ranges(exe) and ours


@pytest.fixture(scope="module")
def section(build_dir: Path) -> bytes:
    """A real ``.debug_aranges`` (gcc writes one by default)."""
    exe = build_generated(build_dir / "aranges_fuzz", "-fPIE", "-pie")
    with ElfFile(str(exe)) as elf:
        data = section_bytes(elf, ".debug_aranges")
    assert data
    return data


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, 400), flips=st.lists(st.tuples(st.integers(0, 399),
                                                          st.integers(0, 7)), max_size=6))
def test_truncated_or_flipped_never_raises(section: bytes, cut: int,
                                           flips: list[tuple[int, int]]) -> None:  # fmt: skip
    data = bytearray(section[:cut])
    for at, bit in flips:
        if at < len(data):
            data[at] ^= 1 << bit
    starts, ends = parse_aranges(bytes(data))
    assert len(starts) == len(ends) and bool(np.all(np.diff(starts.astype(np.float64)) >= 0))


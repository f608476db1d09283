"""Property tests of the ELF core reader: prefixes, bit flips, huge counts and sizes.

Only :class:`MemlensError` may escape, nothing may hang, and memory stays
bounded by the file's size (tracemalloc peak).
"""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.sources.elfcore import elf
from tests.sources.elfcore.corewriter import Core, Load, NoteItem
from tests.sources.fuzzing import exercise, flip

FIXTURES = ["core_linux64.elf", "core_linux32.elf", "esp32.core.elf"]
#: bit flips land in the first DENSE bytes (headers and notes live there)
DENSE = 0x1000
#: prefixes are tried at every byte of the headers and notes, and in steps of STEP in the
#: segment data (where a cut only shortens one segment)
STEP = 0x200


def _cuts(data: bytes) -> list[int]:
    hdr = elf.parse_header(data, "fixture")
    dense = set(range(hdr.phoff + hdr.phnum * hdr.phentsize + 1))
    for ph in elf.parse_program_headers(data, hdr, "fixture", []):
        if ph.type == elf.PT_NOTE:
            dense.update(range(ph.offset, min(len(data), ph.offset + ph.filesz + 1)))
    return sorted(dense | set(range(0, len(data), STEP)))


def _synthetic() -> bytes:
    core = Core(loads=[Load(0x1000, b"\x90" * 0x1000, memsz=0x3000), Load(0x9000, b"z" * 64)])
    core.notes = [core.prstatus(9, list(range(27)), 6), core.prpsinfo(9, b"a", b"a b"),
                  core.nt_file([(0x1000, 0x4000, 0, b"/bin/a")]), core.auxv([(6, 4096)]),
                  core.siginfo(6, -6, 0), NoteItem(b"X", 1, b"raw")]  # fmt: skip
    return core.build()


@pytest.mark.parametrize("name", FIXTURES)
def test_every_prefix(fixtures_dir: Path, tmp_path: Path, name: str) -> None:
    data = (fixtures_dir / "elfcore" / name).read_bytes()
    path = tmp_path / "prefix"
    for cut in _cuts(data):
        path.write_bytes(data[:cut])
        exercise(path, "elfcore")


def test_every_prefix_synthetic(tmp_path: Path) -> None:
    data = _synthetic()
    path = tmp_path / "prefix"
    for cut in _cuts(data):
        path.write_bytes(data[:cut])
        exercise(path, "elfcore")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(FIXTURES), st.lists(st.integers(0, 8 * DENSE - 1), min_size=1, max_size=8))
def test_bit_flips(fixtures_dir: Path, tmp_path: Path, name: str, bits: list[int]) -> None:
    data = (fixtures_dir / "elfcore" / name).read_bytes()
    for bit in bits:
        data = flip(data, bit % (8 * len(data)))
    path = tmp_path / "flipped"
    path.write_bytes(data)
    exercise(path, "elfcore")


HUGE = [0xFFFFFFFF, 0x7FFFFFFF, 0xFFFF, 1 << 62, (1 << 64) - 1]


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    size = struct.calcsize(fmt)
    value &= (1 << (8 * size)) - 1
    return data[:offset] + struct.pack(fmt, value) + data[offset + size :]


def _huge_variants(data: bytes) -> list[bytes]:
    """The synthetic core with each count/size/offset field set to huge values."""
    out = []
    phoff = 64
    fields = [(56, "<H"), (54, "<H"), (32, "<Q"), (40, "<Q")]  # phnum, phentsize, phoff, shoff
    for i in range(3):  # PT_NOTE and the two PT_LOADs: offset, vaddr, filesz, memsz
        base = phoff + 56 * i
        fields += [(base + 8, "<Q"), (base + 16, "<Q"), (base + 32, "<Q"), (base + 40, "<Q")]
    note_at = struct.unpack_from("<Q", data, phoff + 8)[0]
    fields += [(note_at, "<I"), (note_at + 4, "<I")]  # first note's namesz, descsz
    # NT_FILE count: find the note by its type and patch its first word.
    nt_file = data.find(struct.pack("<I", 0x46494C45) + b"CORE\0")
    fields += [(nt_file + 12, "<Q"), (nt_file + 20, "<Q")]
    for off, fmt in fields:
        bits = 8 * struct.calcsize(fmt)
        for value in HUGE:
            if value < 1 << bits:
                out.append(_patch(data, off, fmt, value))
    return out


def test_huge_counts_and_sizes(tmp_path: Path) -> None:
    data = _synthetic()
    path = tmp_path / "huge"
    variants = _huge_variants(data)
    assert len(variants) > 60
    tracemalloc.start()
    try:
        for variant in variants:
            path.write_bytes(variant)
            tracemalloc.reset_peak()
            exercise(path, "elfcore")
            _, peak = tracemalloc.get_traced_memory()
            assert peak < 64 * len(variant) + (4 << 20), f"peak {peak} bytes"
    finally:
        tracemalloc.stop()

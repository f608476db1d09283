"""Synthetic cores from the independent test writer: classes, byte orders, odd segments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import memlens
from tests.conftest import need_tool
from tests.sources.elfcore.corewriter import Core, Load, NoteItem

X86_64_REGS = 27
I386_REGS = 17


def _open(
    tmp_path: Path, core: Core, name: str = "core", cut: int | None = None
) -> memlens.Snapshot:
    data = core.build()
    path = tmp_path / name
    path.write_bytes(data if cut is None else data[:cut])
    return memlens.open(str(path))


@pytest.mark.parametrize("bits,endian", [(64, "little"), (64, "big"), (32, "little"), (32, "big")])
def test_classes_and_byte_orders(tmp_path: Path, bits: int, endian: str) -> None:
    core = Core(bits=bits, endian=endian, machine=62 if bits == 64 else 3)
    nregs = X86_64_REGS if bits == 64 else I386_REGS
    regs = list(range(100, 100 + nregs))
    word = bits // 8
    core.loads = [Load(0x10000, bytes(range(256)) * 16, memsz=0x3000, flags=5),
                  Load(0x20000, b"\x11\x22\x33\x44" * 1024)]  # fmt: skip
    core.notes = [
        core.prstatus(4242, regs, cursig=11),
        core.prpsinfo(4242, b"prog", b"prog --flag value"),
        core.siginfo(11, 1, 0xDEAD0),
        core.auxv([(6, 4096), (9, 0x10040), (3, 0x10040)]),
        core.nt_file([(0x10000, 0x13000, 2, b"/usr/bin/prog")]),
        NoteItem(b"VENDOR", 1, b"\x01\x02\x03"),
    ]
    with _open(tmp_path, core) as snap:
        assert snap.arch == memlens.Arch("x86_64" if bits == 64 else "i386", word, endian)
        assert snap.space.read(0x10000, 4) == bytes([0, 1, 2, 3])
        assert snap.space.u32(0x20000) == int.from_bytes(b"\x11\x22\x33\x44", endian)
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(0x11000, 1)
        assert snap.space.read(0x10FFE, 4, pad=True) == bytes([254, 255, 0, 0])
        assert snap.pid == 4242 and snap.command_line == "prog --flag value"
        thread = snap.threads[0]
        assert thread.tid == 4242 and thread.crashed
        pc_name, sp_name = ("rip", "rsp") if bits == 64 else ("eip", "esp")
        assert thread.registers[pc_name] == regs[16 if bits == 64 else 12]
        assert thread.registers[sp_name] == regs[19 if bits == 64 else 15]
        assert snap.crash == memlens.CrashInfo(4242, 11, 1, 0xDEAD0, "SIGSEGV (SEGV_MAPERR)",
                                          os="linux")
        assert snap.extra["auxv"] == {6: 4096, 9: 0x10040, 3: 0x10040}
        region = snap.space.region_at(0x10000)
        assert region is not None
        assert (region.name, region.offset, str(region.perms)) == ("/usr/bin/prog", 0x2000, "r-xp")
        assert [(m.path, m.base, m.end) for m in snap.modules] == [
            ("/usr/bin/prog", 0x10000, 0x13000)
        ]
        vendor = snap.extra["notes"][-1]
        assert (vendor["owner"], vendor["type"], vendor["head"]) == ("VENDOR", 1, "010203")
        assert snap.space.saved_bytes(0x10000, 0x13000) == 0x1000
        assert snap.warnings == []


def test_note_alignment_8(tmp_path: Path) -> None:
    core = Core(note_align=8)
    core.notes = [NoteItem(b"GNU", 5, b"\xaa" * 5), core.prpsinfo(7, b"x", b"x y")]
    with _open(tmp_path, core) as snap:
        assert snap.pid == 7 and snap.command_line == "x y"


def test_type_is_dispatched_with_its_owner(tmp_path: Path) -> None:
    """Type 3 of owner GNU is a build id, not NT_PRPSINFO."""
    core = Core()
    core.notes = [NoteItem(b"GNU", 3, b"\x01" * 136)]
    with _open(tmp_path, core) as snap:
        assert snap.pid is None and "prpsinfo" not in snap.extra


def test_truncated_core_clips_with_warning(tmp_path: Path) -> None:
    core = Core(loads=[Load(0x40000, b"A" * 0x2000), Load(0x50000, b"B" * 0x1000)])
    full = core.build()
    cut = len(full) - 0x1800  # all of the second segment and 0x800 bytes of the first
    with _open(tmp_path, core, cut=cut) as snap:
        assert snap.space.read(0x40000, 0x1800) == b"A" * 0x1800
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(0x417FF, 2)
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(0x50000, 1)
        assert [w for w in snap.warnings if "truncated" in w] == [
            "file is truncated: 2 PT_LOAD segments lose 6144 bytes (0.0 MiB) past its end "
            f"at {cut:#x}; those bytes read as not saved"
        ]


def test_overlapping_zero_size_and_wrapping(tmp_path: Path) -> None:
    core = Core(loads=[
        Load(0x1000, b"F" * 0x2000),
        Load(0x2000, b"S" * 0x2000),  # overlaps the first: first wins
        Load(0x8000, b"", memsz=0),  # zero-size: ignored
        Load(0xFFFFFFFFFFFFF000, b"T" * 0x1000, memsz=0x3000),  # wraps past 2**64
    ])  # fmt: skip
    with _open(tmp_path, core) as snap:
        assert snap.space.read(0x1000, 0x2000) == b"F" * 0x2000
        assert snap.space.read(0x3000, 0x1000) == b"S" * 0x1000
        assert snap.space.read(0xFFFFFFFFFFFFF000, 4) == b"TTTT"
        assert snap.space.region_at(0x8000) is None
        assert max(r.end for r in snap.regions) == 1 << 64
        joined = " | ".join(snap.warnings)
        assert "overlap: 1 spans (4096 bytes)" in joined
        assert "1 zero-size PT_LOAD segments ignored" in joined
        assert "1 PT_LOAD segments wrap past the top" in joined


def test_truncated_headers_refused_with_one_line(tmp_path: Path) -> None:
    core = Core(loads=[Load(0x1000, b"x" * 16)])
    with pytest.raises(memlens.FormatError, match="ELF header is truncated"):
        _open(tmp_path, core, cut=30)
    path = tmp_path / "core"
    with pytest.raises(memlens.FormatError, match="empty file"):
        path.write_bytes(b"")
        memlens.open(str(path), memlens.OpenOptions(format="elfcore"))


def test_program_headers_past_end_warned(tmp_path: Path) -> None:
    core = Core(loads=[Load(0x1000, b"x" * 16)], phnum_override=1000)
    with _open(tmp_path, core) as snap:
        assert any("program headers are past its end" in w for w in snap.warnings)


def test_unknown_machine_registers_raw(tmp_path: Path) -> None:
    core = Core(bits=32, machine=42)  # SuperH: no register table
    core.notes = [core.prstatus(1, [5, 6, 7])]
    with _open(tmp_path, core) as snap:
        assert snap.threads[0].registers == {"r0": 5, "r1": 6, "r2": 7}


@pytest.mark.parametrize(
    "machine,bits,count,pc,sp",
    [(183, 64, 34, ("pc", 32), ("sp", 31)), (40, 32, 18, ("pc", 15), ("sp", 13))],
)
def test_aarch64_and_arm_registers_named(
    tmp_path: Path, machine: int, bits: int, count: int, pc: tuple[str, int], sp: tuple[str, int]
) -> None:
    core = Core(bits=bits, machine=machine)
    regs = [0x1000 + i for i in range(count)]
    core.notes = [core.prstatus(3, regs)]
    with _open(tmp_path, core) as snap:
        t = snap.threads[0]
        assert len(t.registers) == count
        assert (t.pc, t.sp) == (regs[pc[1]], regs[sp[1]])
        assert t.registers[pc[0]] == regs[pc[1]]


@pytest.mark.parametrize("bits", [64, 32])
def test_pn_xnum_count_from_section_zero(tmp_path: Path, bits: int) -> None:
    core = Core(bits=bits, machine=62 if bits == 64 else 3, xnum=True)
    core.loads = [Load(0x1000 * (i + 1), bytes([i]) * 16) for i in range(5)]
    with _open(tmp_path, core) as snap:
        assert len(snap.regions) == 5 and snap.space.read(0x5000, 2) == b"\x04\x04"
    # the oracle agrees the file says 6 program headers
    out = subprocess.run([need_tool("readelf"), "-lW", str(tmp_path / "core")],
                         capture_output=True, text=True).stdout  # fmt: skip
    assert "There are 6 program headers" in out

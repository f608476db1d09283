"""Synthetic minidumps from the independent writer: layouts, byte order, hostile shapes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import memlens
from memlens.analyses.minidump_streams import all_blocks
from memlens.cli.main import main
from memlens.errors import AddressError, FormatError, UsageError
from memlens.sources.minidump.reader import MinidumpSnapshot
from memlens.sources.minidump.streams import ModuleList
from memlens.sources.options import OpenOptions

from .synth import LINUX_MAPS, MEMORY_LIST, Synth


def write(tmp_path: Path, data: bytes, name: str = "synth.dmp") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def open_synth(tmp_path: Path, s: Synth, **opts: object) -> MinidumpSnapshot:
    snap = memlens.open(write(tmp_path, s.build()), OpenOptions(extra=dict(opts)))
    assert isinstance(snap, MinidumpSnapshot)
    return snap


def full_dump(endian: str, pad: bool = False) -> Synth:
    s = Synth(endian)
    s.system_info(arch=9, platform=0x8201)
    stack = bytes(range(64))
    s.thread_list([(7, 0x7FF000, stack, s.amd64_context(0x401000, 0x7FF010)),
                   (8, 0x7FE000, b"\x01" * 32, s.amd64_context(0x402000, 0x7FE008, extra=300))],
                  pad=pad)  # fmt: skip
    build_id = bytes.fromhex("00112233445566778899")
    s.module_list([(0x400000, 0x3000, "/bin/prog", s.cv_bpel(build_id)),
                   (0x500000, 0x1000, "C:\\x.dll",
                    s.cv_rsds(0x5A9832E5, 0x2872, 0x41C1, bytes.fromhex("838ed98914e9b7ff"), 1,
                              "x.pdb"))], pad=pad)  # fmt: skip
    s.memory_list([(0x401000, b"\x90" * 16)], pad=pad)
    s.exception(7, 11, 0xDEAD, s.amd64_context(0x401004, 0x7FF020), flags=1)
    s.misc_info(4242)
    s.thread_names([(7, "main"), (8, "worker")])
    return s


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("pad", [False, True])
def test_full_dump_both_byte_orders_and_padding(tmp_path: Path, endian: str, pad: bool) -> None:
    with open_synth(tmp_path, full_dump(endian, pad)) as snap:
        assert snap.dump.order == ("little" if endian == "<" else "big")
        assert snap.arch is not None and snap.arch.name == "x86_64"
        assert snap.arch.byteorder == snap.dump.order
        assert snap.pid == 4242
        assert [(t.tid, t.name, t.crashed) for t in snap.threads] == [
            (7, "main", True), (8, "worker", False)]
        assert snap.threads[0].pc == 0x401004  # the exception's context
        assert snap.threads[1].registers["rip"] == 0x402000  # larger-than-base context
        assert snap.threads[1].sp == 0x7FE008
        assert snap.crash is not None
        assert (snap.crash.signal, snap.crash.code, snap.crash.address) == (11, 1, 0xDEAD)
        assert snap.crash.description == "SIGSEGV / SEGV_MAPERR"
        m0, m1 = snap.modules
        assert (m0.path, m0.base, m0.end) == ("/bin/prog", 0x400000, 0x403000)
        assert m0.build_id == bytes.fromhex("00112233445566778899")
        assert m0.debug_id == "33221100554477668899000000000000" + "0"
        assert m1.debug_id == "5A9832E5287241C1838ED98914E9B7FF1" and m1.build_id is None
        assert snap.space.read(0x7FF000, 64) == bytes(range(64))
        assert snap.space.read(0x401000, 16) == b"\x90" * 16
        assert snap.warnings == []


def test_unpadded_list_with_other_leftover_is_refused(tmp_path: Path) -> None:
    s = Synth()
    s.system_info()
    s.stream(MEMORY_LIST, s.p("I", 1) + bytes(8) + s.p("QII", 0x1000, 4, 0))  # 8 extra bytes
    with open_synth(tmp_path, s) as snap:
        assert list(snap.space.saved_ranges()) == []
        assert any("do not fit the stream size" in w for w in snap.warnings)


def test_overlapping_zero_size_and_wrapping_ranges(tmp_path: Path) -> None:
    s = Synth()
    s.system_info()
    a, b = s.put(b"A" * 32), s.put(b"B" * 32)
    z, w = s.put(b"Z" * 8), s.put(b"W" * 16)
    s.memory_list_raw([(0x1000, 32, a), (0x1010, 32, b), (0x3000, 0, z),
                       ((1 << 64) - 8, 16, w)])  # fmt: skip
    with open_synth(tmp_path, s) as snap:
        # the first range keeps the overlap; the rest of the second survives
        assert snap.space.read(0x1000, 48) == b"A" * 32 + b"B" * 16
        assert not snap.space.is_readable(0x3000)
        assert not snap.space.is_readable((1 << 64) - 8)
        text = " | ".join(snap.warnings)
        assert "overlapping MemoryList ranges (the first one kept): [0x1010, 0x1020)" in text
        assert "zero-size memory ranges ignored: 0x3000" in text
        assert "wrapping past the top" in text


def test_memory64_wins_over_memory_list(tmp_path: Path) -> None:
    s = Synth()
    s.system_info()
    s.memory64_list([(0x1000, b"6" * 16), (0x2000, b"7" * 8)])
    s.memory_list([(0x1008, b"L" * 16), (0x5000, b"M" * 4)])
    with open_synth(tmp_path, s) as snap:
        assert snap.space.read(0x1000, 24) == b"6" * 16 + b"L" * 8
        assert snap.space.read(0x2000, 8) == b"7" * 8
        assert snap.space.read(0x5000, 4) == b"M" * 4
        assert snap.warnings == []  # covering one list with the other is expected


def test_memory_past_end_of_file_is_not_saved(tmp_path: Path) -> None:
    s = Synth()
    s.system_info()
    rva = s.put(b"X" * 8)
    s.memory_list_raw([(0x9000, 4096, rva)])
    data = s.build()
    with memlens.open(write(tmp_path, data)) as snap:
        saved = len(data) - rva
        assert snap.space.read(0x9000, 8) == b"X" * 8
        with pytest.raises(AddressError, match="not saved"):
            snap.space.read(0x9000 + saved, 1)
        assert any("past the end of the file" in w for w in snap.warnings)


def test_duplicate_streams_use_the_first(tmp_path: Path) -> None:
    s = Synth()
    s.system_info()
    s.memory_list([(0x1000, b"first")])
    s.memory_list([(0x1000, b"other")])
    with open_synth(tmp_path, s) as snap:
        assert snap.space.read(0x1000, 5) == b"first"
        assert any("duplicate MD_MEMORY_LIST_STREAM" in w for w in snap.warnings)


def test_null_stack_rva_is_found_in_the_memory_list(tmp_path: Path) -> None:
    s = Synth()
    s.system_info(arch=0, platform=2)
    s.thread_list([(1, 0x5000, b"S" * 32, s.x86_context(0x1234, 0x5004))], null_stack_rva=True)
    s.memory_list([(0x5000, b"S" * 32)])
    with open_synth(tmp_path, s) as snap:
        (t,) = snap.threads
        assert (t.pc, t.sp, t.stack_start, t.stack_end) == (0x1234, 0x5004, 0x5000, 0x5020)
        assert snap.space.read(t.stack_start or 0, 32) == b"S" * 32
        blocks = all_blocks(snap.dump, 3)
        (stack,) = [b for b in blocks if b.data_label == "Stack"]
        assert stack.data == b"S" * 32


def test_huge_counts_are_bounded_by_the_stream(tmp_path: Path) -> None:
    for stream_type, body in [
        (3, (0xFFFFFFFF).to_bytes(4, "little")),
        (4, (0x7FFFFFFF).to_bytes(4, "little")),
        (5, (4000).to_bytes(4, "little") + bytes(16)),
        (9, (1 << 62).to_bytes(8, "little") + bytes(8)),
        (16, bytes.fromhex("10000000" "30000000") + (1 << 60).to_bytes(8, "little")),
        (24, (0xFFFFFFF0).to_bytes(4, "little")),
    ]:
        s = Synth()
        s.system_info()
        s.stream(stream_type, body)
        with open_synth(tmp_path, s) as snap:
            assert len(snap.warnings) == 1, (stream_type, snap.warnings)


def test_limits_are_configurable(tmp_path: Path) -> None:
    s = Synth()
    s.system_info()
    s.memory_list([(0x1000 * i, b"x" * 64) for i in range(1, 6)])
    with open_synth(tmp_path, s) as snap:
        assert len(list(snap.space.saved_ranges())) == 5
    with open_synth(tmp_path, s, minidump={"max_regions": 4}) as snap:
        assert list(snap.space.saved_ranges()) == []
        assert any("exceed the limit of 4" in w for w in snap.warnings)
    with open_synth(tmp_path, s, minidump={"max_region_size": 32}) as snap:
        assert list(snap.space.saved_ranges()) == []
    with pytest.raises(UsageError, match="unknown minidump limits"):
        open_synth(tmp_path, s, minidump={"max_bogus": 1})


def test_header_refusals(tmp_path: Path) -> None:
    s = Synth()
    s.system_info()
    with pytest.raises(FormatError, match="unsupported version"):
        memlens.open(write(tmp_path, s.build(version=0x1234), "v.dmp"))
    s = Synth()
    with pytest.raises(FormatError, match="exceed the limit of 128"):
        memlens.open(write(tmp_path, s.build(stream_count=1000), "n.dmp"))
    s = Synth()
    with pytest.raises(FormatError, match="stream directory"):
        memlens.open(write(tmp_path, s.build(stream_count=100), "d.dmp"))


def test_regions_from_memory_info_and_maps(tmp_path: Path) -> None:
    s = Synth()
    s.system_info(arch=9, platform=2)
    s.memory_info_list([(0x10000, 0x2000, 0x1000, 0x04, 0x20000),   # commit rw private
                        (0x12000, 0x1000, 0x2000, 0x00, 0x20000),   # reserved
                        (0x13000, 0xD000, 0x10000, 0x01, 0)])       # free: not a region
    s.memory_list([(0x10000, b"m" * 16)])
    with open_synth(tmp_path, s) as snap:
        assert [(r.start, r.end, str(r.perms)) for r in snap.regions] == [
            (0x10000, 0x12000, "rw-p"), (0x12000, 0x13000, "---p")]
        assert snap.space.read(0x10000, 16) == b"m" * 16
        with pytest.raises(AddressError, match="not saved"):
            snap.space.read(0x10010, 1)
        with pytest.raises(AddressError, match="unmapped"):
            snap.space.read(0x13000, 1)
    s = Synth()
    s.system_info()
    s.stream(LINUX_MAPS, b"00400000-00401000 r-xp 00000000 08:01 42 /bin/true\n"
                         b"7ffc0000-7ffc2000 rw-p 00000000 00:00 0 [stack]\n")
    with open_synth(tmp_path, s) as snap:
        assert [(r.start, r.name) for r in snap.regions] == [(0x400000, "/bin/true"),
                                                              (0x7FFC0000, "[stack]")]


def _arm_context(s: Synth, pc: int, sp: int) -> bytes:
    ctx = bytearray(368)
    ctx[0:4] = s.p("I", 0x40000002)  # CONTEXT_ARM | integer
    ctx[4 + 4 * 13 : 4 + 4 * 14] = s.p("I", sp)  # iregs[13]
    ctx[4 + 4 * 15 : 4 + 4 * 16] = s.p("I", pc)  # iregs[15]
    return bytes(ctx)


def _arm64_context(s: Synth, pc: int, sp: int, x0: int) -> bytes:
    ctx = bytearray(912)
    ctx[0:4] = s.p("I", 0x00400002)  # CONTEXT_ARM64 | integer
    ctx[8:16] = s.p("Q", x0)
    ctx[8 + 8 * 31 : 8 + 8 * 32] = s.p("Q", sp)
    ctx[8 + 8 * 32 : 8 + 8 * 33] = s.p("Q", pc)
    return bytes(ctx)


def _arm64_old_context(s: Synth, pc: int, sp: int) -> bytes:
    ctx = bytearray(796)
    ctx[0:8] = s.p("Q", 0x80000002)  # old Breakpad arm64 flag, u64 flags
    ctx[8 + 8 * 31 : 8 + 8 * 32] = s.p("Q", sp)  # iregs[31] is sp
    ctx[264:272] = s.p("Q", pc)
    return bytes(ctx)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_arm_contexts(tmp_path: Path, endian: str) -> None:
    cases: list[tuple[int, Callable[[Synth], bytes], str, int]] = [
        (5, lambda s: _arm_context(s, 0x8000, 0x7FF0), "arm", 4),
        (12, lambda s: _arm64_context(s, 0x400000, 0x7FFFF000, 42), "aarch64", 8),
        (0x8003, lambda s: _arm64_old_context(s, 0x400000, 0x7FFFF000), "aarch64", 8),
    ]
    for arch, make, name, word in cases:
        s = Synth(endian)
        s.system_info(arch=arch, platform=0x8203)
        s.thread_list([(1, 0x7000, b"", make(s))])
        with open_synth(tmp_path, s) as snap:
            assert snap.arch is not None and (snap.arch.name, snap.arch.word_size) == (name, word)
            (t,) = snap.threads
            assert (t.pc, t.sp) == ((0x8000, 0x7FF0) if name == "arm" else (0x400000, 0x7FFFF000))
            if arch == 12:
                assert t.registers["x0"] == 42
            assert snap.warnings == []


def test_nb10_codeview_and_utf16_names(tmp_path: Path) -> None:
    s = Synth()
    s.system_info(arch=0, platform=2)
    nb10 = s.p("IIII", 0x3031424E, 0, 0x3A1B2C3D, 7) + b"old.pdb\0"
    s.module_list([(0x10000000, 0x1000, "C:\\Prog\\naïve—模块.dll", nb10)])
    with open_synth(tmp_path, s) as snap:
        (m,) = snap.modules
        assert m.path == "C:\\Prog\\naïve—模块.dll"
        assert m.debug_id == "3A1B2C3D7"
        module = snap.dump.stream(ModuleList)
        assert module is not None and module.modules[0].debug_file == "old.pdb"


def test_context_too_small_is_a_warning(tmp_path: Path) -> None:
    s = Synth()
    s.system_info(arch=9)
    s.thread_list([(1, 0x7000, b"", bytes(100))])
    with open_synth(tmp_path, s) as snap:
        assert snap.threads[0].registers == {}
        assert any("no known CPU context fits 100 bytes" in w for w in snap.warnings)


def test_cli_reports_unreadable_stream_and_exits_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Synth()
    s.system_info()
    s.stream(3, s.p("I", 5) + bytes(20))  # 5 threads claimed, room for none
    s.memory_list([(0x1000, b"ok")])
    path = write(tmp_path, s.build())
    assert main(["minidump", path]) == 3
    out, err = capsys.readouterr()
    assert "MD_THREAD_LIST_STREAM: unreadable" in out
    assert "MinidumpMemoryList" in out  # the rest is still printed
    (line,) = [ln for ln in err.splitlines() if ln.startswith("memlens: error:")]
    assert "5 entries of 48 bytes do not fit the stream size 24" in line
    assert main(["minidump", path, "--stream", "0x5"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("MinidumpMemoryList\n  region_count = 1\n")

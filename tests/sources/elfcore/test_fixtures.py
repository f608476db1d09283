"""The real cores in tests/data/elfcore against their oracles (PROVENANCE.md, readelf)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import memlens
from memlens.sources.elfcore.notes import FileMapping
from tests.conftest import need_tool


def _open(fixtures_dir: Path, name: str) -> memlens.Snapshot:
    return memlens.open(str(fixtures_dir / "elfcore" / name))


def test_core_linux64_prpsinfo(fixtures_dir: Path) -> None:
    with _open(fixtures_dir, "core_linux64.elf") as snap:
        assert snap.extra["prpsinfo"] == {
            "pid": 23395, "ppid": 23187, "pgrp": 23395, "sid": 23187, "uid": 1000,
            "gid": 1000, "fname": "coredump_self", "psargs": "./coredump_self foo bar 42",
        }  # fmt: skip
        assert snap.pid == 23395
        assert snap.command_line == "./coredump_self foo bar 42"
        assert snap.arch == memlens.Arch("x86_64", 8, "little")
        assert snap.warnings == []


def test_core_linux64_nt_file(fixtures_dir: Path) -> None:
    exe = "/home/max42/pyelftools/test/coredump_self"
    libc = "/lib/x86_64-linux-gnu/libc-2.23.so"
    ld = "/lib/x86_64-linux-gnu/ld-2.23.so"
    expected = [
        (0x400000, 0x401000, 0, exe), (0x600000, 0x601000, 0, exe),
        (0x601000, 0x602000, 0x1000, exe),
        (0x7FA4593AE000, 0x7FA45956D000, 0, libc),
        (0x7FA45956D000, 0x7FA45976D000, 0x1BF000, libc),
        (0x7FA45976D000, 0x7FA459771000, 0x1BF000, libc),
        (0x7FA459771000, 0x7FA459773000, 0x1C3000, libc),
        (0x7FA459777000, 0x7FA45979D000, 0, ld),
        (0x7FA45999C000, 0x7FA45999D000, 0x25000, ld),
        (0x7FA45999D000, 0x7FA45999E000, 0x26000, ld),
    ]  # fmt: skip
    with _open(fixtures_dir, "core_linux64.elf") as snap:
        assert snap.extra["nt_file"] == [FileMapping(*e) for e in expected]
        # Regions take their names and file offsets from NT_FILE.
        for start, _end, offset, path in expected:
            region = snap.space.region_at(start)
            assert region is not None and region.start == start
            assert (region.name, region.path, region.offset) == (path, path, offset)
        mods = {m.path: (m.base, m.end) for m in snap.modules}
        # NT_FILE's three files, and the vdso (AT_SYSINFO_EHDR; eu-unstrip -n lists it)
        assert mods == {exe: (0x400000, 0x602000), libc: (0x7FA4593AE000, 0x7FA459773000),
                        ld: (0x7FA459777000, 0x7FA45999E000),
                        "linux-vdso.so.1": (0x7FFE2E5FA000, 0x7FFE2E5FB000)}  # fmt: skip


def test_core_linux64_not_saved_tail(fixtures_dir: Path) -> None:
    """libc's text has only its first page saved (kernel coredump_filter): the rest raises."""
    with _open(fixtures_dir, "core_linux64.elf") as snap:
        base = 0x7FA4593AE000
        assert snap.space.read(base, 4) == b"\x7fELF"
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(base + 0x1000, 8)
        assert snap.space.read(base + 0xFFC, 8, pad=True)[4:] == b"\0\0\0\0"
        with pytest.raises(memlens.AddressError, match="unmapped"):
            snap.space.read(0x1000, 1)


def test_core_linux32_layouts(fixtures_dir: Path) -> None:
    tool = need_tool("eu-readelf")
    out = subprocess.run([tool, "-n", str(fixtures_dir / "elfcore" / "core_linux32.elf")],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    with _open(fixtures_dir, "core_linux32.elf") as snap:
        ps = snap.extra["prpsinfo"]
        for key in ("pid", "ppid", "pgrp", "sid", "uid", "gid"):
            assert re.search(rf"\b{key}: {ps[key]}\b", out), key
        assert f"fname: {ps['fname']}" in out
        assert snap.arch == memlens.Arch("i386", 4, "little")
        regs = snap.threads[0].registers
        for name in ("eip", "esp", "ebp"):
            m = re.search(rf"\b{name}: *(0x[0-9a-f]+)", out)
            assert m and int(m.group(1), 16) == regs[name], name


def _readelf_notes(path: Path) -> list[tuple[str, int]]:
    tool = need_tool("readelf")
    out = subprocess.run([tool, "-n", "-W", str(path)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return [(m.group(1), int(m.group(2), 16))
            for m in re.finditer(r"^  (\S+) +(0x[0-9a-f]{8})\t", out, re.M)]  # fmt: skip


@pytest.mark.parametrize("name", ["core_linux64.elf", "core_linux32.elf", "esp32.core.elf"])
def test_notes_match_readelf(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / "elfcore" / name
    with _open(fixtures_dir, name) as snap:
        ours = [(n["owner"], n["size"]) for n in snap.extra["notes"]]
    assert ours == _readelf_notes(path)


def test_esp32_every_word(fixtures_dir: Path) -> None:
    text = (fixtures_dir / "elfcore" / "esp32.expected_output").read_text()
    section = text.split("CORE DUMP MEMORY CONTENTS", 1)[1]
    regions = re.findall(r"^\.coredump\.tasks\.data (0x[0-9a-f]+) (0x[0-9a-f]+) RW", section, re.M)
    words = re.findall(r"^(0x[0-9a-f]+):((?:[ \t]+0x[0-9a-f]+)+)", section, re.M)
    assert len(regions) == 12 and len(words) > 100
    with _open(fixtures_dir, "esp32.core.elf") as snap:
        assert snap.arch == memlens.Arch("xtensa", 4, "little")
        ours = sorted((r.start, r.size) for r in snap.regions)
        assert ours == sorted((int(a, 16), int(s, 16)) for a, s in regions)
        checked = 0
        for addr, values in words:
            for i, value in enumerate(values.split()):
                assert snap.space.u32(int(addr, 16) + 4 * i) == int(value, 16)
                checked += 1
        assert checked == sum(int(s, 16) for _, s in regions) // 4


def test_esp32_unknown_owners_listed_raw(fixtures_dir: Path) -> None:
    with _open(fixtures_dir, "esp32.core.elf") as snap:
        raw = [n for n in snap.extra["notes"] if n["owner"].startswith("ESP_")]
        assert [(n["owner"], n["type"], n["size"]) for n in raw] == [
            ("ESP_CORE_DUMP_INFO", 0x204A, 0x48), ("ESP_EXTRA_INFO", 0x2A5, 0x98),
            ("ESP_PANIC_DETAILS", 0x2A7, 0x2D),
        ]  # fmt: skip
        assert bytes.fromhex(raw[2]["head"]).startswith(b"abort() was called at PC 0x400d6")
        # The crashed task is the first NT_PRSTATUS (expected_output: handle 0x3ffafba0).
        assert snap.threads[0].tid == 0x3FFAFBA0 and snap.threads[0].crashed
        assert len(snap.threads) == 6


def test_esp32_crashed_thread_registers(fixtures_dir: Path) -> None:
    """The crashed task's registers as esp-coredump prints them (CURRENT THREAD REGISTERS)."""
    text = (fixtures_dir / "elfcore" / "esp32.expected_output").read_text()
    block = text.split("CURRENT THREAD REGISTERS", 1)[1].split("CURRENT THREAD STACK", 1)[0]
    expected = {name: int(value, 16) for name, value in
                re.findall(r"^(\w+)\s+(0x[0-9a-f]+)", block, re.M)}  # fmt: skip
    names = ["pc", "ps", "lbeg", "lend", "lcount", "sar"] + [f"a{i}" for i in range(16)]
    assert set(names) <= set(expected)
    with _open(fixtures_dir, "esp32.core.elf") as snap:
        regs = snap.threads[0].registers
        assert {n: regs[n] for n in names} == {n: expected[n] for n in names}
        assert snap.threads[0].pc == 0x4008110D

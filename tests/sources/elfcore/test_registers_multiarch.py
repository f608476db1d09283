"""Every register of every thread of elfutils' cores of 8 machines equals `eu-readelf -n`.

The cores (x86_64, i386, x32, aarch64, ppc64le, s390x, riscv64, m68k) were written by
real kernels; eu-readelf decodes NT_PRSTATUS with its own per-machine tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import memlens

from ...conftest import need_tool
from .multiarch import CORES, readelf_prstatus, unpack

#: eu-readelf's name -> memlens' name, where they differ
RENAMED = {"rflags": "eflags", "fs.base": "fs_base", "gs.base": "gs_base", "spr0": "softe"}
#: eu-readelf fields of elf_prstatus that are not registers
NOT_REGISTERS = {"info.si_signo", "info.si_code", "info.si_errno", "cursig", "pid", "ppid",
                 "pgrp", "sid", "fpvalid"}  # fmt: skip
#: the program counter and stack pointer of each machine (its ABI document's names)
PC_SP = {
    "x86_64": ("rip", "rsp"), "x32": ("rip", "rsp"), "i386": ("eip", "esp"),
    "i386-rtlib": ("eip", "esp"), "aarch64": ("pc", "sp"), "ppc64": ("nip", "r1"),
    "s390x": ("pswa", "r15"), "riscv64": ("pc", "sp"), "m68k": ("pc", "a7"),
}  # fmt: skip
#: the arch name each core must get (32-bit x86_64 ABI = x32)
ARCH = {"i386-rtlib": "i386"}


@pytest.fixture(scope="module")
def unpacked(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multiarch")


@pytest.mark.parametrize("machine", sorted(CORES))
def test_registers_equal_eu_readelf(machine: str, fixtures_dir: Path, unpacked: Path) -> None:
    tool = need_tool("eu-readelf")
    core = unpack(fixtures_dir, CORES[machine], unpacked)
    expected = readelf_prstatus(tool, core)
    assert expected, "eu-readelf printed no NT_PRSTATUS"
    with memlens.open(str(core)) as snap:
        assert snap.arch is not None and snap.arch.name == ARCH.get(machine, machine)
        assert [t.tid for t in snap.threads] == [e["pid"] for e in expected]
        checked = 0
        for thread, fields in zip(snap.threads, expected, strict=True):
            for name, value in fields.items():
                if name in NOT_REGISTERS:
                    continue
                ours = RENAMED.get(name, name)
                assert ours in thread.registers, (machine, thread.tid, name)
                got = thread.registers[ours]
                # eu-readelf prints some registers as signed decimals of their width
                if value >= 0:
                    assert got == value, (machine, thread.tid, name, hex(got), value)
                else:
                    assert got in {value + (1 << n) for n in (16, 32, 64)}, (
                        machine, thread.tid, name, hex(got), value)
                checked += 1
            pc, sp = PC_SP[machine]
            assert thread.pc == fields[pc] and thread.sp == fields[sp] % (1 << 64)
        assert checked >= 17 * len(expected)


def test_m68k_pid_is_not_shifted(fixtures_dir: Path, unpacked: Path) -> None:
    # m68k aligns long to 2 bytes: pr_pid sits at 22, not 24 (was read as 1963 << 16)
    with memlens.open(str(unpack(fixtures_dir, CORES["m68k"], unpacked))) as snap:
        assert [t.tid for t in snap.threads] == [1963] and snap.pid == 1963


PROG = r"""
__attribute__((noinline)) static int crash(volatile int *p) { return *p; }
int main(void) { return crash((volatile int *)16); }
"""


@pytest.mark.parametrize("bits", ["64", "32"])
def test_own_gdb_core_registers_equal_eu_readelf(bits: str, tmp_path: Path) -> None:
    """Cores this test makes: x86_64 and i386 builds crashed under gdb, written by gcore."""
    import subprocess

    from ...conftest import compile_c

    readelf, gdb = need_tool("eu-readelf"), need_tool("gdb")
    exe = compile_c(PROG, tmp_path / f"crash{bits}", f"-m{bits}", "-O1")
    core = tmp_path / "core"
    subprocess.run([gdb, "-nx", "-batch", "-ex", "run", "-ex", f"generate-core-file {core}",
                    str(exe)], capture_output=True, timeout=120)  # fmt: skip
    assert core.exists()
    expected = readelf_prstatus(readelf, core)
    with memlens.open(str(core)) as snap:
        assert snap.arch is not None and snap.arch.name == ("x86_64" if bits == "64" else "i386")
        (thread,) = snap.threads
        fields = expected[0]
        for name, value in fields.items():
            if name in NOT_REGISTERS:
                continue
            got = thread.registers[RENAMED.get(name, name)]
            signed = value < 0 and got in {value + (1 << n) for n in (16, 32, 64)}
            assert got == value or signed, name
        pc, sp = ("rip", "rsp") if bits == "64" else ("eip", "esp")
        assert thread.pc == fields[pc] and thread.sp == fields[sp]
        assert snap.crash is not None and snap.crash.address == 16


def readelf_fp(tool: str, core: Path) -> list[dict[str, int]]:
    """Per NT_PRSTATUS (in order), the FP/vector registers of the notes after it."""
    import re
    import subprocess

    text = subprocess.run([tool, "-n", str(core)], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    out: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    for line in text.splitlines():
        head = re.match(r"^  (\S+)\s+(\d+)\s+(\S+)$", line)
        if head is not None:
            if head.group(3) == "PRSTATUS":
                out.append({})
            current = out[-1] if out and head.group(3) in ("FPREGSET", "PRXFPREG") else None
            continue
        if current is not None:
            for key, value in re.findall(r"(\w+):\s+(0x[0-9a-f]+)", line):
                current[key] = int(value, 16)
    return out


@pytest.mark.parametrize("machine", ["x86_64", "x32", "i386", "aarch64"])
def test_fp_registers_equal_eu_readelf(machine: str, fixtures_dir: Path, unpacked: Path) -> None:
    tool = need_tool("eu-readelf")
    core = unpack(fixtures_dir, CORES[machine], unpacked)
    expected = readelf_fp(tool, core)
    with memlens.open(str(core)) as snap:
        got = snap.extra.get("fp_registers", {})
        checked = 0
        for thread, fields in zip(snap.threads, expected, strict=True):
            mine = got.get(thread.tid, {})
            assert set(mine) == set(fields), (thread.tid, set(mine) ^ set(fields))
            for name, value in fields.items():
                if machine == "i386" and name == "fstat":
                    # eu-readelf takes bytes 2-3 (the unused high half of fctrl's slot);
                    # the kernel's fstat is the low half of the next 32-bit slot
                    continue
                assert mine[name] == value, (thread.tid, name, hex(mine[name]), hex(value))
                checked += 1
        assert checked >= 17


def test_info_registers_lists_fp(fixtures_dir: Path, unpacked: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from memlens.cli.main import main

    core = unpack(fixtures_dir, CORES["x86_64"], unpacked)
    assert main(["info", str(core), "--registers", "--no-backtrace"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("registers of 23096:"):]
    # eu-readelf -n: xmm1 of the second thread, and its rip
    assert "xmm1=0x25252525252525252525252525252525" in block and "rip=0x404880" in block

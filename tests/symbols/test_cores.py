"""Symbolizing a PIE and its shared library from cores: gdb ``gcore``, the kernel, the live process.

The same code addresses must give the same frames from the live process, from
the core gdb writes of it and from the core the kernel writes of a second run
(its own load addresses), and must match gdb's ``info symbol`` on each core.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from memlens.cli.exitcodes import ExitCode
from memlens.cli.main import main
from memlens.symbols.chain import symbolizer_for
from memlens.symbols.frame import Frame
from memlens.targets import open_target
from tests.conftest import compile_c, need_tool
from tests.symbols.progs import functions_of

LIB = "\n".join(
    f"__attribute__((noinline)) int lib_g{i}(int n) {{\n"
    f"  int s = {i};\n  for (int k = 0; k < n; k++) s = s * {i + 3} + (k ^ s) % {i + 5};\n"
    f"  return s;\n}}"
    for i in range(5)
) + "\n"

EXE = "\n".join([
    "#include <stdio.h>", "#include <stdlib.h>",
    *[f"int lib_g{i}(int n);" for i in range(5)],
    *[f"__attribute__((noinline)) int f{i}(int n) {{\n"
      f"  int s = 0;\n  for (int k = 0; k < n; k++) s += lib_g{i}(k) ^ {i + 7};\n"
      f"  return s;\n}}" for i in range(5)],
    "int main(int argc, char **argv) {",
    "  int n = argc > 1 ? atoi(argv[1]) : 4;",
    "  printf(\"%d\\nready\\n\", f0(n) + f1(n) + f2(n) + f3(n) + f4(n));",
    "  fflush(stdout);",
    "  if (getchar() == 'a') abort();  /* the kernel writes a core */",
    "  return 0;",
    "}",
]) + "\n"  # fmt: skip


@dataclass
class Built:
    exe: Path
    lib: Path
    #: (file, file address) of the probed addresses: start, middle, last byte of each function
    probes: list[tuple[Path, int, str, int]]


@pytest.fixture(scope="module")
def built(build_dir: Path) -> Built:
    lib = compile_c(LIB, build_dir / "libcoreprog.so", "-O1", "-shared", "-fPIC")
    exe = compile_c(EXE, build_dir / "coreprog", "-O1", "-fPIE", "-pie", f"-L{build_dir}",
                    "-lcoreprog", f"-Wl,-rpath,{build_dir}")  # fmt: skip
    probes = []
    for path, prefix in ((exe, "f"), (lib, "lib_g")):
        funcs = [f for f in functions_of(path) if re.fullmatch(prefix + r"\d", f[0])]
        assert len(funcs) == 5
        for name, start, size in funcs:
            probes += [(path, a, name, a - start) for a in (start, start + size // 2,
                                                            start + size - 1)]  # fmt: skip
    return Built(exe, lib, probes)


def _bases(pid: int, files: list[Path]) -> dict[Path, int]:
    """Start of each file's mapping of file offset 0 (PIE and .so: p_vaddr 0 there)."""
    out = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and int(parts[2], 16) == 0 and Path(parts[5]) in files:
            out.setdefault(Path(parts[5]), int(parts[0].split("-")[0], 16))
    assert set(out) == set(files)
    return out


def _start(built: Built, cwd: Path, spawn: list, core: bool = False) -> subprocess.Popen[bytes]:
    def unlimited_core() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                  resource.RLIM_INFINITY))  # fmt: skip

    proc = subprocess.Popen([str(built.exe)], cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            preexec_fn=unlimited_core if core else None)  # fmt: skip
    spawn.append(proc)
    assert proc.stdout is not None
    proc.stdout.readline()
    assert proc.stdout.readline() == b"ready\n"
    return proc


def _symbolize(target: int | str, addresses: list[int]) -> list[Frame]:
    with open_target(target) as snap:
        return symbolizer_for(snap).symbolize(addresses)


def _gdb_info_symbol(exe: Path, core: Path, addresses: list[int]) -> list[tuple[str, int] | None]:
    gdb = need_tool("gdb")
    cmds = [x for a in addresses for x in ("-ex", f"info symbol {a:#x}")]
    out = subprocess.run([gdb, "-batch", "-nx", *cmds, str(exe), str(core)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    found: list[tuple[str, int] | None] = []
    for line in out.splitlines():
        m = re.match(r"^(\S+)(?: \+ (\d+))? in section \S+", line)
        if m:
            found.append((m.group(1), int(m.group(2) or 0)))
        elif line.startswith("No symbol matches"):
            found.append(None)
    assert len(found) == len(addresses), out
    return found


def _key(f: Frame) -> tuple[object, ...]:
    return (Path(f.module or "").name, f.module_offset, f.function, f.function_offset, f.file,
            f.line, tuple((i.function, i.file, i.line) for i in f.inlined_by))  # fmt: skip


def test_live_gcore_and_kernel_core_agree_with_gdb(
    built: Built, tmp_path: Path, spawn: list, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tool("gcore")
    files = [built.exe, built.lib]
    # 1. live process, then gdb's core of it (same addresses)
    proc = _start(built, tmp_path, spawn)
    bases = _bases(proc.pid, files)
    live_addrs = [bases[path] + a for path, a, _n, _o in built.probes]
    live = _symbolize(proc.pid, live_addrs)
    subprocess.run([need_tool("gcore"), "-o", str(tmp_path / "gcore"), str(proc.pid)],
                   check=True, capture_output=True)  # fmt: skip
    gcore = tmp_path / f"gcore.{proc.pid}"
    assert gcore.is_file()
    from_gcore = _symbolize(str(gcore), live_addrs)
    # 2. a second run aborts; the kernel writes its core in the working directory
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern != "core":
        pytest.skip(f"kernel core_pattern is {pattern!r}, the test expects 'core' in the cwd")
    kdir = tmp_path / "kernel"
    kdir.mkdir()
    proc2 = _start(built, kdir, spawn, core=True)
    bases2 = _bases(proc2.pid, files)
    kernel_addrs = [bases2[path] + a for path, a, _n, _o in built.probes]
    assert proc2.stdin is not None
    proc2.stdin.write(b"a")
    proc2.stdin.close()
    assert proc2.wait(30) == -signal.SIGABRT
    cores = [kdir / "core", kdir / f"core.{proc2.pid}"]
    kcore = next((c for c in cores if c.is_file()), None)
    if kcore is None:
        pytest.skip(f"the kernel wrote no core in {kdir} (core_uses_pid, limits, dumpable?)")
    from_kernel = _symbolize(str(kcore), kernel_addrs)

    expected = [(name, off) for _p, _a, name, off in built.probes]
    for frames in (live, from_gcore, from_kernel):
        assert [(f.function, f.function_offset) for f in frames] == expected
        assert [Path(f.module or "").name for f in frames] == [p.name for p, *_ in built.probes]
        assert [f.module_offset for f in frames] == [a for _p, a, _n, _o in built.probes]
        assert all(f.file is not None and f.line for f in frames)  # -g: DWARF lines
    assert [_key(f) for f in from_gcore] == [_key(f) for f in live]
    assert [_key(f) for f in from_kernel] == [_key(f) for f in live]
    # the differential oracle: gdb on each core
    assert _gdb_info_symbol(built.exe, gcore, live_addrs) == expected
    assert _gdb_info_symbol(built.exe, kcore, kernel_addrs) == expected
    # neither core records page residency: resident says so in one line
    for core in (gcore, kcore):
        assert main(["resident", str(core), "--lib", built.lib.name]) == ExitCode.USAGE
        assert capsys.readouterr().err.splitlines() == [
            f"memlens: error: {core}: no page residency in this elfcore snapshot "
            "(a live PID, a memdump or a memlens snapshot has it)"]


def test_resident_on_a_core_without_residency_is_one_clear_error(
    built: Built, tmp_path: Path, spawn: list, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    proc = _start(built, tmp_path, spawn)
    subprocess.run([need_tool("gcore"), "-o", str(tmp_path / "gc"), str(proc.pid)], check=True,
                   capture_output=True)  # fmt: skip
    core = tmp_path / f"gc.{proc.pid}"
    assert main(["resident", str(core), "--summary"]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"memlens: error: {core}: no page residency in this elfcore snapshot "
            "(a live PID, a memdump or a memlens snapshot has it)"]
    os.unlink(core)

"""Cores written by the kernel and by gdb ``gcore`` of programs the tests compile,
checked against gdb's own reads and readelf's notes."""

from __future__ import annotations

import os
import re
import resource
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import memlens
from tests.conftest import compile_c, need_tool

PROGRAM = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
char global_marker[64] = "MEMLENS-GLOBAL-MARKER";
static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(int argc, char **argv) {
    char stack_marker[32] = "MEMLENS-STACK";
    unsigned long *heap = malloc(1 << 16);
    for (int i = 0; i < (1 << 13); i++) heap[i] = 0x1122334455667788UL + i;
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    printf("%p %p %p\n", (void *)heap, (void *)global_marker, (void *)stack_marker);
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "segv") == 0) {
        usleep(100000);
        *(volatile int *)0x10 = 1;
    }
    for (;;) pause();
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prog") / "target"
    return compile_c(PROGRAM, out, "-O0", "-pthread")


def _addresses(proc: subprocess.Popen[bytes]) -> tuple[int, int, int]:
    assert proc.stdout is not None
    heap, glob, stack = (int(x, 16) for x in proc.stdout.readline().split())
    return heap, glob, stack


def _gdb(exe: Path, core: Path, *commands: str) -> str:
    gdb = need_tool("gdb")
    args = [gdb, "-nx", "-batch", "-ex", "set pagination off"]
    for c in commands:
        args += ["-ex", c]
    return subprocess.run([*args, str(exe), str(core)], capture_output=True, text=True,
                          timeout=120).stdout  # fmt: skip


def _gdb_words(out: str) -> dict[int, int]:
    words = {}
    for m in re.finditer(r"^(0x[0-9a-f]+)(?: <[^>]*>)?:\s+((?:0x[0-9a-f]+\s*)+)$", out, re.M):
        addr = int(m.group(1), 16)
        for i, v in enumerate(m.group(2).split()):
            words[addr + 8 * i] = int(v, 16)
    return words


def _readelf_notes(core: Path) -> list[tuple[str, int]]:
    out = subprocess.run([need_tool("readelf"), "-n", "-W", str(core)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return [(m.group(1), int(m.group(2), 16))
            for m in re.finditer(r"^  (\S+) +(0x[0-9a-f]{8})\t", out, re.M)]  # fmt: skip


def _eu_readelf_nt_file(core: Path) -> list[tuple[int, int, int, str]]:
    """NT_FILE as eu-readelf prints it (binutils 2.40 readelf cannot decode it here)."""
    out = subprocess.run([need_tool("eu-readelf"), "-n", str(core)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    rows = re.findall(r"^ +([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) \d+ +(\S.*)$", out, re.M)
    return [(int(a, 16), int(b, 16), int(c, 16), path) for a, b, c, path in rows]


def _kernel_core(program: Path, tmp: Path) -> tuple[Path, tuple[int, int, int]]:
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern {pattern!r} sends cores elsewhere; no kernel core to read")

    def allow_cores() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    proc = subprocess.Popen([str(program), "segv"], cwd=tmp, stdout=subprocess.PIPE,
                            preexec_fn=allow_cores)  # fmt: skip
    addrs = _addresses(proc)
    assert proc.wait(timeout=60) == -11
    cores = [p for p in tmp.iterdir() if p.name == "core" or p.name.startswith("core.")]
    if not cores:
        pytest.skip(f"the kernel wrote no core (core_pattern {pattern!r})")
    return cores[0], addrs


@pytest.fixture(scope="module")
def kernel_core(program: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return _kernel_core(program, tmp_path_factory.mktemp("kcore"))


@pytest.fixture(scope="module")
def gcore(
    program: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, tuple[int, int, int]]]:
    gdb = need_tool("gdb")
    tmp = tmp_path_factory.mktemp("gcore")
    proc = subprocess.Popen([str(program)], stdout=subprocess.PIPE)
    try:
        addrs = _addresses(proc)
        core = tmp / "gcore.core"
        subprocess.run([gdb, "-nx", "-batch", "-p", str(proc.pid), "-ex", f"gcore {core}"],
                       capture_output=True, timeout=120, check=True)  # fmt: skip
        yield core, addrs
    finally:
        proc.kill()
        proc.wait()


def _check_against_gdb(program: Path, core: Path, addrs: tuple[int, int, int]) -> memlens.Snapshot:
    heap, glob, stack = addrs
    snap = memlens.open(str(core))
    out = _gdb(program, core, f"x/16gx {heap:#x}", f"x/4gx {glob:#x}", f"x/2gx {stack:#x}",
               "info registers rip rsp", "info threads")  # fmt: skip
    words = _gdb_words(out)
    assert len(words) == 22
    for addr, value in words.items():
        assert snap.space.u64(addr) == value, hex(addr)
    assert snap.space.read(glob, 21) == b"MEMLENS-GLOBAL-MARKER"
    assert snap.space.read(stack, 13) == b"MEMLENS-STACK"
    assert snap.space.u64(heap + 8) == 0x1122334455667789
    rip = int(re.search(r"^rip\s+(0x[0-9a-f]+)", out, re.M).group(1), 16)  # type: ignore[union-attr]
    rsp = int(re.search(r"^rsp\s+(0x[0-9a-f]+)", out, re.M).group(1), 16)  # type: ignore[union-attr]
    assert (snap.threads[0].pc, snap.threads[0].sp) == (rip, rsp)
    assert len(snap.threads) == len(re.findall(r"^[ *] +\d+ +(?:Thread|LWP)", out, re.M)) == 2
    assert _readelf_notes(core) == [(n["owner"], n["size"]) for n in snap.extra["notes"]]
    ours = [(m.start, m.end, m.offset, m.path) for m in snap.extra["nt_file"]]
    assert ours == _eu_readelf_nt_file(core) != []
    module = next(m for m in snap.modules if m.path == str(program))
    notes = subprocess.run([need_tool("readelf"), "-n", str(program)], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    build_id = re.search(r"Build ID: ([0-9a-f]+)", notes)
    assert build_id and module.build_id == bytes.fromhex(build_id.group(1))
    return snap


def test_kernel_core(program: Path, kernel_core: tuple[Path, tuple[int, int, int]]) -> None:
    core, addrs = kernel_core
    with _check_against_gdb(program, core, addrs) as snap:
        assert snap.crash is not None
        assert (snap.crash.signal, snap.crash.code, snap.crash.address) == (11, 1, 0x10)
        assert snap.crash.description == "SIGSEGV (SEGV_MAPERR)"
        assert snap.threads[0].crashed and snap.command_line == f"{program} segv"
        # Kernel cores save only the first page of a file's text (coredump_filter): the rest
        # of the text mapping is mapped but not saved.
        text = next(r for r in snap.regions if r.path == str(program) and r.perms.execute)
        assert snap.space.saved_bytes(text.start, text.end) == 0
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(text.start, 1)


def test_gcore(program: Path, gcore: tuple[Path, tuple[int, int, int]]) -> None:
    core, addrs = gcore
    with _check_against_gdb(program, core, addrs) as snap:
        # gdb leaves unmodified file text out of the core; NT_FILE still lists it, so it is a
        # region with unknown permissions and nothing saved.
        text = next(r for r in snap.regions if r.path == str(program) and r.offset == 0x1000)
        assert str(text.perms) == "---p" and snap.space.saved_bytes(text.start, text.end) == 0
        assert snap.pid is not None and snap.command_line is not None
        # gdb records the stop signal, not a crash; NT_FILE's page size of 1 is not used
        assert snap.crash is None and not any(t.crashed for t in snap.threads)
        assert snap.extra["stop_signal"].startswith("SIGSTOP")
        assert snap.page_size == os.sysconf("SC_PAGE_SIZE")


def test_gcore_without_nt_file(program: Path, gcore: tuple[Path, tuple[int, int, int]],
                               tmp_path: Path) -> None:  # fmt: skip
    """Old gdb wrote no NT_FILE: regions are unnamed, bytes still read, and the modules come
    from the loader's link map (r_debug) and the ELF headers in memory -- the same files at
    the same bases, with the same build ids, as NT_FILE gives for the unpatched core."""
    core, (heap, _, _) = gcore
    data = bytearray(core.read_bytes())
    tag = struct.pack("<I", 0x46494C45) + b"CORE\0"
    at = data.find(tag)
    assert at > 0
    data[at : at + 4] = struct.pack("<I", 0x7E57)
    patched = tmp_path / "no-nt-file.core"
    patched.write_bytes(bytes(data))
    with memlens.open(str(patched)) as snap:
        assert "nt_file" not in snap.extra
        assert all(r.path is None for r in snap.regions)
        # the loader names files as it opened them (/lib -> /usr/lib on merged-/usr systems)
        found = {(os.path.realpath(m.path), m.base, m.build_id) for m in snap.modules}
        assert snap.space.u64(heap) == 0x1122334455667788
        assert snap.extra["auxv"][6] == os.sysconf("SC_PAGE_SIZE")
    with memlens.open(str(core)) as snap:
        expected = {(os.path.realpath(m.path), m.base, m.build_id) for m in snap.modules}
    assert found == expected and len(found) >= 3


def test_open_is_fast_enough_to_be_lazy(gcore: tuple[Path, tuple[int, int, int]]) -> None:
    """Opening maps the file; PT_LOAD bytes are not read (no timing: count bytes read)."""
    core, _ = gcore
    before = _read_bytes()
    with memlens.open(str(core)) as snap:
        assert snap.regions
    assert _read_bytes() - before < 1 << 20


def _read_bytes() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


@pytest.fixture(autouse=True)
def _settle() -> Iterator[None]:
    yield
    time.sleep(0)

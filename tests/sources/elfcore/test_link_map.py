"""The loader's list read from a core without NT_FILE, against the loader's own values.

A program the test builds prints what the dynamic linker tells it of every loaded
object (``dl_iterate_phdr``: name and ``dlpi_addr``, the ``l_addr`` of its link-map
entry); one of its libraries is linked at vaddr 0x200000, so its ELF header is not
at its load bias.  gdb's gcore of it, with the NT_FILE note renamed away, leaves
memlens only the link map and the headers in memory to find modules by.
"""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import memlens
from memlens.symbols import linkmap
from tests.conftest import compile_c, need_tool

LINKED_AT = 0x200000

LIBRARY = "int high_value(void) { return 42; }\n"

PROGRAM = r"""
#define _GNU_SOURCE
#include <link.h>
#include <stdio.h>
#include <unistd.h>
int high_value(void);
static int show(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    printf("%lx %s\n", (unsigned long)info->dlpi_addr, info->dlpi_name);
    return 0;
}
int main(void) {
    dl_iterate_phdr(show, NULL);
    printf("done %d\n", high_value());
    fflush(stdout);
    for (;;) pause();
}
"""


@pytest.fixture(scope="module")
def core_and_printout(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, int]]]:
    gdb = need_tool("gdb")
    tmp = tmp_path_factory.mktemp("linkmap")
    lib = compile_c(LIBRARY, tmp / "libhigh.so", "-shared", "-fPIC",
                    f"-Wl,-Ttext-segment={LINKED_AT:#x}")  # fmt: skip
    exe = compile_c(PROGRAM, tmp / "target", f"-L{tmp}", "-lhigh", f"-Wl,-rpath,{tmp}")
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        printed: dict[str, int] = {}
        for line in proc.stdout:
            if line.startswith("done"):
                break
            addr, _, name = line.rstrip("\n").partition(" ")
            if not name:  # the program itself comes first, unnamed
                name = str(exe)
            if name.startswith("/"):
                printed[os.path.realpath(name)] = int(addr, 16)
        assert str(lib) in printed
        core = tmp / "gcore.core"
        subprocess.run([gdb, "-nx", "-batch", "-p", str(proc.pid), "-ex", f"gcore {core}"],
                       capture_output=True, timeout=120, check=True)  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    data = bytearray(core.read_bytes())
    at = data.find(struct.pack("<I", 0x46494C45) + b"CORE\0")  # NT_FILE's type, owner
    assert at > 0
    data[at : at + 4] = struct.pack("<I", 0x7E57)
    patched = tmp / "no-nt-file.core"
    patched.write_bytes(bytes(data))
    yield patched, printed


def test_modules_carry_the_loaders_bias(core_and_printout: tuple[Path, dict[str, int]]) -> None:
    core, printed = core_and_printout
    with memlens.open(str(core)) as snap:
        assert "nt_file" not in snap.extra
        ours = {os.path.realpath(m.path): m for m in snap.modules if m.path.startswith("/")}
    for path, bias in printed.items():
        assert ours[path].load_bias == bias, path
    lib = next(m for p, m in ours.items() if p.endswith("libhigh.so"))
    assert lib.base == printed[os.path.realpath(lib.path)] + LINKED_AT


def test_symbols_walk_gives_the_loaders_bias(
    core_and_printout: tuple[Path, dict[str, int]],
) -> None:
    core, printed = core_and_printout
    with memlens.open(str(core)) as snap:
        walked = {os.path.realpath(path): bias for path, _, bias in linkmap.walk(snap)}
    assert walked == printed

"""``memlens snapshot`` of an i386 program on an x86_64 kernel: an ELF32 core that gdb
reads (registers, memory) the way memlens does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import compile_c, need_tool

import memlens
from memlens.cli.main import main

PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    char *p = malloc(100);
    strcpy(p, "MARK32-SNAPSHOT");
    printf("%p\n", (void *)p);
    fflush(stdout);
    pause();
    return 0;
}
"""


def test_i386_snapshot_is_an_elf32_core_gdb_reads(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    gdb = need_tool("gdb")
    exe = compile_c(PROG, tmp_path / "m32", "-m32")
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE)
    spawn.append(proc)
    assert proc.stdout is not None
    mark = int(proc.stdout.readline(), 16)
    core = tmp_path / "m32.core"
    assert main(["snapshot", str(proc.pid), "-o", str(core)]) == 0
    assert core.read_bytes()[4] == 1  # ELFCLASS32
    out = subprocess.run([gdb, "-nx", "-batch", "-ex", f"x/s {mark:#x}", "-ex",
                          "info registers eip esp", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    assert '"MARK32-SNAPSHOT"' in out, out
    regs = {m[0]: int(m[1], 16) for m in re.findall(r"^(eip|esp)\s+(0x[0-9a-f]+)", out, re.M)}
    with memlens.open(str(core)) as snap:
        assert snap.arch is not None and (snap.arch.name, snap.arch.word_size) == ("i386", 4)
        assert snap.space.cstring(mark) == b"MARK32-SNAPSHOT"
        (thread,) = snap.threads
        assert thread.tid == proc.pid
        assert (thread.pc, thread.sp) == (regs["eip"], regs["esp"])

"""Live reads of file pages the process has not faulted in come from the file itself
(nothing is faulted in), and a 32-bit program is read as 32-bit."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

from tests.conftest import compile_c

import memlens

MAPPER = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY);
    unsigned char *p = mmap(0, 256 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return 1;
    volatile unsigned char first = p[0];  /* only the first page is touched */
    (void)first;
    printf("%lx\n", (unsigned long)p);
    fflush(stdout);
    pause();
    return 0;
}
"""


def _present(pid: int, address: int) -> bool:
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(address // 4096 * 8)
        (entry,) = struct.unpack("<Q", f.read(8))
    return bool(entry >> 63)


def test_untouched_file_pages_read_from_the_file(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(256 * 4096))
    exe = compile_c(MAPPER, tmp_path / "mapper")
    proc = subprocess.Popen([str(exe), str(data)], stdout=subprocess.PIPE)
    spawn.append(proc)
    assert proc.stdout is not None
    base = int(proc.stdout.readline(), 16)
    # half a megabyte in: far past the fault-around window (64 KiB) of the first touch
    page = base + 128 * 4096
    assert not any(_present(proc.pid, page + k * 4096) for k in range(3))
    with memlens.open(proc.pid) as snap:
        got = snap.space.read(page, 3 * 4096)
    assert got == data.read_bytes()[128 * 4096 : 131 * 4096]
    # the target's page table is as it was: the bytes came from the file
    assert not any(_present(proc.pid, page + k * 4096) for k in range(3))


I386 = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("%zu\n", sizeof(void *)); fflush(stdout); pause(); return 0; }
"""


def test_a_32_bit_program_is_read_with_4_byte_words(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    exe = compile_c(I386, tmp_path / "i386", "-m32")
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE)
    spawn.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"4"
    with memlens.open(proc.pid) as snap:
        assert snap.arch is not None
        assert (snap.arch.name, snap.arch.word_size, snap.space.word_size) == ("i386", 4, 4)

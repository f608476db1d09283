"""``memlens snapshot PID``: gdb opens the core and agrees with the live process; memlens
reads it back with residency; the target is always left running."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import memlens
from memlens.cli.main import main
from tests.conftest import compile_c, need_root, need_tool

PROGRAM = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(void) {
    unsigned char *buf = malloc(1 << 20);
    memset(buf, 0xA5, 1 << 20);
    strcpy((char *)buf, "SNAPSHOT-MARK");
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    printf("%p\n", (void *)buf);
    fflush(stdout);
    for (;;) pause();
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_c(PROGRAM, tmp_path_factory.mktemp("snap") / "holder", "-pthread")


@pytest.fixture
def target(program: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    proc = subprocess.Popen([str(program)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        buf = int(proc.stdout.readline(), 16)
        yield proc, buf
    finally:
        proc.kill()
        proc.wait()


def _states(pid: int) -> dict[int, tuple[str, int]]:
    """(state letter, tracer pid) of every thread."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        text = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        state = re.search(r"^State:\s+(\S)", text, re.M)
        tracer = re.search(r"^TracerPid:\s+(\d+)", text, re.M)
        assert state and tracer
        out[int(tid)] = (state.group(1), int(tracer.group(1)))
    return out


def _assert_running(pid: int) -> None:
    states = _states(pid)
    assert len(states) == 2
    for state, tracer in states.values():
        assert state not in "Tt" and tracer == 0, states


def _live_maps(pid: int) -> list[tuple[int, int, int, str]]:
    rows = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            rows.append((lo, hi, int(parts[2], 16), parts[5]))
    return rows


def test_gdb_reads_the_snapshot_like_the_live_process(
    program: Path, target: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    gdb = need_tool("gdb")
    proc, buf = target
    core = tmp_path / "live.core"
    assert main(["snapshot", str(proc.pid), "-o", str(core)]) == 0
    _assert_running(proc.pid)
    with memlens.open(proc.pid) as live:
        expected = [live.space.u64(a) for a in (buf, buf + 8, buf + 0x1000)]
        heap_region = live.space.region_at(buf)
        assert heap_region is not None
        live_table = live.page_table(heap_region)
    out = subprocess.run(
        [gdb, "-nx", "-batch", "-ex", "info proc mappings", "-ex", f"x/2gx {buf:#x}",
         "-ex", f"x/gx {buf + 0x1000:#x}", "-ex", "info threads", str(program), str(core)],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    gdb_maps = [
        (int(a, 16), int(b, 16), int(off, 16), path)
        for a, b, _size, off, path in re.findall(
            r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(/\S+)$",
            out,
            re.M,
        )
    ]
    assert gdb_maps == _live_maps(proc.pid)
    words = [int(v, 16) for v in re.findall(r"^0x[0-9a-f]+:\s+(.*)$", out, re.M)[0].split()]
    words += [int(re.findall(r"^0x[0-9a-f]+:\s+(\S+)$", out, re.M)[0], 16)]
    assert words == expected
    assert expected[0] == int.from_bytes(b"SNAPSHOT", "little")
    assert len(re.findall(r"^[ *] +\d+ +(?:Thread|LWP)", out, re.M)) == 2

    with memlens.open(str(core)) as snap:
        assert snap.has_residency and snap.pid == proc.pid
        assert [t.crashed for t in snap.threads] == [False, False]
        assert snap.threads[0].tid == proc.pid and snap.threads[0].pc
        region = snap.space.region_at(buf)
        assert region is not None and live_table is not None
        table = snap.page_table(region)
        assert table is not None and len(table) == len(live_table)
        # The 1 MiB buffer was written: all its pages are present in both views.
        first = (buf - region.start) // snap.page_size
        pages = slice(first + 1, first + (1 << 20) // snap.page_size - 1)
        assert table.present[pages].all() and live_table.present[pages].all()
        names = {r.name for r in snap.regions}
        assert {"[heap]", "[stack]", "[vdso]", str(program)} <= names
        assert snap.space.read(buf, 13) == b"SNAPSHOT-MARK"
        need_root()  # PFNs and page flags are zero for anyone else
        assert table.flags is not None and (table.pfn[pages] != 0).all()
        assert np.array_equal(table.pfn[pages], live_table.pfn[pages])


def test_target_resumed_when_writing_fails(
    target: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    proc, _ = target
    bad = tmp_path / "no-such-dir" / "x.core"
    assert main(["snapshot", str(proc.pid), "-o", str(bad)]) == 1
    _assert_running(proc.pid)
    assert not bad.parent.exists()


def test_snapshot_without_stopping(
    target: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    proc, buf = target
    core = tmp_path / "nostop.core"
    assert main(["snapshot", str(proc.pid), "-o", str(core), "--no-stop"]) == 0
    with memlens.open(str(core)) as snap:
        assert snap.extra["memlens"]["registers"] == "not saved: --no-stop"
        assert snap.space.read(buf, 13) == b"SNAPSHOT-MARK"

"""MicroPython's ``mem_info(1)`` abbreviates a run of free blocks that starts a
line and covers at least two whole lines (``gc_dump_alloc_table`` in
``py/gc.c``); one free line is printed as dots.  The oracle is the real
interpreter (the WebAssembly port of tests/mpy/wasm.py): a script frees runs of
exactly one, two and three lines at line starts, the interpreter prints the
table, and memlens must render the same table from the dumped heap."""

from __future__ import annotations

import re

import pytest

from memlens.mpy.heap import analyse
from memlens.render.mpy_meminfo import alloc_table
from memlens.sources.options import OpenOptions
from memlens.targets import open_target
from tests.mpy.wasm import Capture, capture

HEAPSIZE = 131072
BLOCK = 16  # 32-bit port: 4 words of 4 bytes
SHOW = "import micropython\nmicropython.mem_info(1)\n"
# Fill blocks with floats (one block each), find line-aligned runs of consecutive
# floats by their addresses (id() is the address), and drop exactly the floats of
# each run; the floats on either side stay.  The collection at the start of the
# next script frees them.
BUILD = """\
P = {pool}
N = 1500
keep = [None] * N
for i in range(N):
    keep[i] = i + 0.5
blk = [0] * N
for i in range(N):
    blk[i] = (id(keep[i]) - P) // 16


def window(length, first):
    i = first
    while i + length < N:
        b = blk[i]
        if b % 64 == 0 and blk[i - 1] == b - 1:
            k = 1
            while k <= length and blk[i + k] == b + k:
                k += 1
            if k > length:
                return i
        i += 1
    return -1


found = []
nxt = 1
for length in (64, 128, 192):
    i = window(length, nxt)
    found.append("%d:%d" % (length, blk[i] if i >= 0 else -1))
    if i >= 0:
        for k in range(length):
            keep[i + k] = None
        nxt = i + length + 1
print("WINDOWS " + " ".join(found))
"""


def _table(text: str) -> str:
    text = text.replace("\r\n", "\n")
    return text[text.index("GC memory layout") :]


@pytest.fixture(scope="module")
def freed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Capture, dict[int, int]]:
    tmp = tmp_path_factory.mktemp("mpy-free")
    show = tmp / "show.upy"
    show.write_text(SHOW)
    probe = capture(tmp / "probe", [str(show)], HEAPSIZE)
    m = re.search(r"GC memory layout; from ([0-9a-f]+):", probe.texts[0])
    assert m is not None
    build = tmp / "build.upy"
    build.write_text(BUILD.format(pool=int(m[1], 16)))
    run = capture(tmp / "run", [str(build), str(show)], HEAPSIZE)
    w = re.search(r"WINDOWS (.*)", run.texts[0])
    assert w is not None
    windows = {int(a): int(b) for a, b in (p.split(":") for p in w[1].split())}
    assert all(b >= 0 for b in windows.values()), windows
    return run, windows


def test_micropython_prints_one_free_line_and_abbreviates_two_and_three(
    freed: tuple[Capture, dict[int, int]],
) -> None:
    run, windows = freed
    lines = _table(run.texts[0]).splitlines()
    # one free line: printed in full
    assert f"{windows[64] * BLOCK:08x}: " + "." * 64 in lines
    for n in (2, 3):
        start = windows[64 * n]
        at = lines.index(f"       ({n} lines all free)")
        # the line before ends the previous run, the next starts right after the free one
        assert lines[at + 1].startswith(f"{(start + 64 * n) * BLOCK:08x}: ")
        assert lines[at + 1][10] != "."
        assert lines[at - 1].startswith(f"{(start - 64) * BLOCK:08x}: ")


def test_memlens_renders_the_same_table_from_the_dumped_heap(
    freed: tuple[Capture, dict[int, int]],
) -> None:
    run, _ = freed
    opts = OpenOptions(format="raw", base=0, word_size=4, snapshot_size=run.snapshot_size,
                       snapshot=0)  # fmt: skip
    with open_target(str(run.dump), opts) as snap:
        heap = analyse(snap.space, source=snap.source)
        areas = [(a.pool_start, c) for a, c in zip(heap.areas, heap.block_chars(), strict=True)]
        assert alloc_table(areas, heap.block_size) == _table(run.texts[0])


"""An independent writer of small glibc heaps of older eras (x86_64).

Offsets here are typed from glibc's sources of each era, not taken from
``memlens.glibc.layout``, so a wrong table there cannot agree with itself:

* 2.26: ``malloc_state`` without ``have_fastchunks`` (fastbinsY at 8, bins at
  104, next at 2152, system_mem at 2176); tcache ``counts`` are ``char``;
  no safe-linking.
* 2.27-2.29: ``have_fastchunks`` (fastbinsY at 16, bins at 112, next at 2160,
  system_mem at 2184); ``char`` counts; no safe-linking.

The heap: the tcache struct (0x250), eight in-use 0x30 chunks, two of them
freed into the tcache, one 0x20 chunk in fastbin 0, one 0x90 chunk in small
bin 8 (bin_at(8)), then the top chunk.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.core.region import Perms, Region, RegionKind
from memlens.core.snapshot import Arch, Snapshot

LIBC_DATA = 0x7F0000001000
HEAP = 0x555555559000
HEAP_SIZE = 0x21000

ERAS = {
    "2.26": {"fastbins": 8, "top": 88, "bins": 104, "next": 2152, "system_mem": 2176},
    "2.27": {"fastbins": 16, "top": 96, "bins": 112, "next": 2160, "system_mem": 2184},
}


@dataclass
class Expected:
    in_use: int
    tcache: int
    fastbin: int
    smallbin: int
    top: int
    system_mem: int


def _put(buf: bytearray, at: int, value: int) -> None:
    struct.pack_into("<Q", buf, at, value)


def build(era: str, first: int = 0, damage: str | None = None) -> tuple[Snapshot, Expected]:
    """The heap of ``era``; ``first`` moves the first chunk off the brk start (a
    heap the walker cannot start on); ``damage`` breaks one thing glibc checks:
    ``count`` (tcache count), ``bk`` (small bin link), ``fastloop`` (a fastbin
    chunk linking to itself), ``prev_size``, ``unbinned`` (a free chunk in no
    bin), ``misaligned`` (a tcache entry)."""
    o = ERAS[era]
    data = bytearray(0x2000)
    heap = bytearray(HEAP_SIZE)
    arena = LIBC_DATA + 0x100
    a = arena - LIBC_DATA
    # every bin empty: fd = bk = bin_at(i) = &bins[2(i-1)] - 16
    for i in range(1, 128):
        fd_at = arena + o["bins"] + 16 * (i - 1)
        _put(data, fd_at - LIBC_DATA, fd_at - 16)
        _put(data, fd_at + 8 - LIBC_DATA, fd_at - 16)
    _put(data, a + o["next"], arena)
    _put(data, a + o["system_mem"], HEAP_SIZE)

    chunks: list[tuple[int, int]] = []  # (offset in heap, size)
    at = first  # the brk start is page-aligned: the first chunk is there (user memory at +16)
    def chunk(size: int) -> int:
        nonlocal at
        _put(heap, at + 8, size | 1)
        chunks.append((at, size))
        at += size
        return at - size

    tc = chunk(0x250)  # tcache_perthread_struct: counts char[64], entries[64]
    used = [chunk(0x30) for _ in range(8)]
    fast = chunk(0x20)
    guard1 = chunk(0x30)
    small = chunk(0x90)
    guard2 = chunk(0x30)
    top = at
    top_size = HEAP_SIZE - top
    _put(heap, top + 8, top_size | 1)
    # two 0x30 chunks in tcache bin 1 (entries are user pointers, next unmangled)
    u1, u2 = HEAP + used[2] + 16, HEAP + used[5] + 16
    heap[tc + 16 + 1] = 2  # counts[1]
    _put(heap, tc + 16 + 64 + 8 * 1, u2)
    _put(heap, u2 - HEAP, u1)
    _put(heap, u1 - HEAP, 0)
    # fastbin 0: one 0x20 chunk, fd = 0
    _put(data, a + o["fastbins"], HEAP + fast)
    # small bin 8 (chunks of 0x90): free, next chunk's PREV_INUSE clear, prev_size set
    b8 = arena + o["bins"] + 16 * 7 - 16
    _put(data, b8 + 16 - LIBC_DATA, HEAP + small)
    _put(data, b8 + 24 - LIBC_DATA, HEAP + small)
    _put(heap, small + 16, b8)
    _put(heap, small + 24, b8)
    _put(heap, guard2, 0x90)
    _put(heap, guard2 + 8, 0x30)  # PREV_INUSE clear
    _put(data, a + o["top"], HEAP + top)
    if damage == "count":
        heap[tc + 16 + 1] = 3
    elif damage == "bk":
        _put(heap, small + 16, b8 + 0x40)  # fd no longer the bin: fd->bk != p
    elif damage == "fastloop":
        _put(heap, fast + 16, HEAP + fast)
    elif damage == "prev_size":
        _put(heap, guard2, 0x80)
    elif damage == "unbinned":
        _put(heap, used[7] + 0x30 + 8, 0x20)  # the fastbin chunk's PREV_INUSE cleared...
        _put(heap, used[7] + 0x30, 0x30)  # ...with a right prev_size: used[7] looks free
    elif damage == "misaligned":
        _put(heap, tc + 16 + 64 + 8 * 1, u2 + 8)
    del guard1

    regions = [
        Region(LIBC_DATA, LIBC_DATA + len(data), Perms(True, True), 0x1000,
               "/synthetic/libc.so.6", RegionKind.FILE, "/synthetic/libc.so.6"),
        Region(HEAP, HEAP + HEAP_SIZE, Perms(True, True), 0, "[heap]", RegionKind.HEAP),
    ]  # fmt: skip
    segments = [Segment(LIBC_DATA, LIBC_DATA + len(data), BufferBacking(bytes(data))),
                Segment(HEAP, HEAP + HEAP_SIZE, BufferBacking(bytes(heap)))]  # fmt: skip
    space = AddressSpace(regions, segments, word_size=8)
    snap = Snapshot(format="synthetic", source=f"glibc {era}", space=space,
                    arch=Arch("x86_64", 8))  # fmt: skip
    return snap, Expected(in_use=8 - 2 + 2, tcache=2, fastbin=1, smallbin=1, top=top_size,
                          system_mem=HEAP_SIZE)  # fmt: skip

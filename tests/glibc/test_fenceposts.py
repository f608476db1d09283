"""The fenceposts glibc writes at the end of a thread arena's heap when it moves on
to a new heap (sysmalloc: the old top's size less MINSIZE, aligned down, then a
2-word chunk and a size-0 header). On i386 the top starts 8 bytes past a 16-byte
boundary, so a word of slack is left after the header; the walk must take both
layouts as a heap's normal end (a 32-bit live walk once reported the fencepost as
a bad chunk size)."""

from __future__ import annotations

import struct

import pytest

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.glibc.chunks import walk_run
from memlens.glibc.layout import Layout
from memlens.glibc.walk import Finding

PREV_INUSE = 1
END = 0x2000


def _heap(word: int, start: int, tail: list[tuple[int, int]]) -> AddressSpace:
    """One in-use chunk from ``start`` up to the first of ``tail``'s (offset from
    END, size field) headers, then those headers."""
    data = bytearray(END - 0x1000)
    fmt = "<I" if word == 4 else "<Q"
    first = END - tail[0][0]
    struct.pack_into(fmt, data, start - 0x1000 + word, (first - start) | PREV_INUSE)
    for back, field in tail:
        struct.pack_into(fmt, data, END - back - 0x1000 + word, field)
    return AddressSpace([], [Segment(0x1000, END, BufferBacking(bytes(data)))], word_size=word)


@pytest.mark.parametrize(
    ("word", "start", "tail"),
    [
        # x86_64: CHUNK_HDR_SZ 16, MINSIZE 32; the header ends the heap
        (8, 0x1010, [(32, 16 | PREV_INUSE), (16, 0 | PREV_INUSE)]),
        # i386: CHUNK_HDR_SZ 8, MINSIZE 16, top at 8 mod 16: 8 bytes of slack
        (4, 0x1008, [(24, 8 | PREV_INUSE), (16, 0 | PREV_INUSE)]),
    ],
    ids=["x86_64", "i386"],
)
def test_a_heaps_closing_fenceposts_are_no_finding(
    word: int, start: int, tail: list[tuple[int, int]]
) -> None:
    findings: list[Finding] = []
    run = walk_run(_heap(word, start, tail), Layout(word=word), start, END, findings)
    assert findings == []
    assert run.size.tolist() == [END - tail[0][0] - start, 2 * word, 0]


def test_a_size_zero_header_far_from_the_end_is_a_finding() -> None:
    # 40 bytes after the header: more than alignment leaves, so not glibc's closing
    # fenceposts; the 2-word chunk is then the first bad size
    findings: list[Finding] = []
    tail = [(56, 8 | PREV_INUSE), (48, 0 | PREV_INUSE)]
    walk_run(_heap(4, 0x1008, tail), Layout(word=4), 0x1008, END, findings)
    assert [f.check for f in findings] == ["chunk size"]
    assert findings[0].chunk == END - 56

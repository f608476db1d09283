"""Random heaps made by a model of MicroPython's allocator round-trip through the
analysis: numbers and table equal py/gc.c's per-block loops, every allocation is
found with its type, for 32/64-bit words, both byte orders, split heaps, every
block kind (free, head, tail, marked head) and every table layout."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.mpy.heap import analyse
from memlens.mpy.objects import objects
from memlens.render.mpy_meminfo import alloc_table

from .synth import LETTERS, Image, ref_info, ref_table, write_heap, write_types

NAMES = ["str", "list", "tuple", "dict", "float", "bytearray", "module", "function", "Point"]

# one operation: allocate n blocks of a type ("" = raw data), or free the k-th live one
Op = tuple[str, int, str]
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("alloc"), st.integers(1, 40), st.sampled_from([*NAMES, ""])),
        st.tuples(st.just("free"), st.integers(0, 1000), st.just("")),
    ),
    max_size=120,
)


def allocate(n: int, ops: list[Op], marks: list[bool]) -> tuple[list[int], dict[int, str]]:
    """Block kinds after ``ops`` on an area of ``n`` blocks: first fit, as gc_alloc
    scans from the start; a free clears the head and its tails; then some heads are
    marked, as in a dump taken during a collection."""
    kinds = [0] * n
    live: list[tuple[int, int, str]] = []
    for op, arg, tname in ops:
        if op == "free":
            if live:
                b, length, _ = live.pop(arg % len(live))
                kinds[b : b + length] = [0] * length
            continue
        run = 0
        for b in range(n):
            run = run + 1 if kinds[b] == 0 else 0
            if run == arg:
                start = b - arg + 1
                kinds[start : b + 1] = [1] + [2] * (arg - 1)
                live.append((start, arg, tname))
                break
    heads = {b: t for b, _, t in live}
    for i, b in enumerate(sorted(heads)):
        if marks[i % len(marks)]:
            kinds[b] = 3
    return kinds, heads


@settings(max_examples=60, deadline=None)
@given(
    word=st.sampled_from([4, 8]),
    order=st.sampled_from(["<", ">"]),
    layout=st.sampled_from([(True, 1), (False, 1), (True, 0)]),
    sizes=st.lists(st.integers(2, 24), min_size=1, max_size=3),
    ops=st.lists(ops_strategy, min_size=3, max_size=3),
    marks=st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_model_heaps_round_trip(
    word: int,
    order: str,
    layout: tuple[bool, int],
    sizes: list[int],
    ops: list[list[Op]],
    marks: list[bool],
) -> None:
    finaliser, gap = layout
    if gap == 0:  # the gap byte (2021) predates split heaps (2022): no split heap without it
        sizes = sizes[:1]
    base = 0x20000000 if word == 4 else 0x7F0000000000
    img = Image(base, word, order)
    types = write_types(img, base + 0x1000, NAMES, qstr_first=500)
    spans, cursor = [], base + 0x10000
    for size in sizes:  # in units of 64 blocks: 2..24 table lines per area
        span = size * 64 * 4 * word + 0x200
        spans.append((cursor, cursor + span))
        cursor += span + 0x1000
    areas_ops = iter(ops)
    areas = write_heap(img, random.Random(0), spans, base + 0x200, types, finaliser, gap,
                       fill=lambda n: allocate(n, next(areas_ops), marks))  # fmt: skip
    data = bytes(img.data)
    space = AddressSpace([], [Segment(base, base + len(data), BufferBacking(data))],
                         word_size=word, byteorder="little" if order == "<" else "big")  # fmt: skip
    heap = analyse(space)
    block = 4 * word
    assert [a.pool_start for a in heap.areas] == [a.pool for a in areas]
    info = heap.info
    assert (info.total, info.used, info.free, info.num_1block, info.num_2block, info.max_block,
            info.max_free) == ref_info([a.kinds for a in areas], block)  # fmt: skip
    expected = []
    for a in areas:
        chars = [".h=m"[k] for k in a.kinds]
        for b, tname in a.heads.items():
            if a.kinds[b] == 1:
                chars[b] = LETTERS.get(tname, "h")
        expected.append((a.pool, chars))
    got = alloc_table([(a.pool_start, c) for a, c in zip(heap.areas, heap.block_chars(),
                                                         strict=True)], block)  # fmt: skip
    assert got == ref_table(expected, block)
    objs = objects(heap)
    want = sorted((a.pool + b * block, t) for a in areas for b, t in a.heads.items())
    assert [o.address for o in objs] == [addr for addr, _ in want]
    assert [o.type for o in objs] == [tname or "(data)" for _, tname in want]

"""Hostile dumps: prefixes, bit flips and huge claimed lengths in a heap image.
Only MemlensError may escape any step (locate, numbers, table, objects, graph)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.errors import MemlensError
from memlens.mpy.graph import build
from memlens.mpy.heap import analyse
from memlens.mpy.objects import objects
from memlens.render.mpy_meminfo import alloc_table

from .synth import Image, write_heap, write_types

BASE = 0x20000000


def _image() -> tuple[bytes, list[int], int]:
    img = Image(BASE, 4, "<")
    types = write_types(img, BASE + 0x1000, ["str", "list", "dict", "tuple", "Foo"], 300)
    areas = write_heap(img, random.Random(3), [(BASE + 0x4000, BASE + 0x6000),
                                               (BASE + 0x7000, BASE + 0x8000)],
                       BASE + 0x200, types)  # fmt: skip
    # give some heads plausible contents: a str with a huge length, a dict with a huge alloc
    a = areas[0]
    for b, tname in list(a.heads.items())[:40]:
        addr = a.pool + b * 16
        if tname in ("str", "dict", "tuple", "list"):
            img.words(addr + 4, 0xFFFFFFF0, 0x7FFFFFFF, BASE + 0x4000)
    record_words = [BASE + 0x200 + 4 * i for i in range(8)]
    return bytes(img.data), record_words, sum(len(x.heads) for x in areas)


DATA, RECORD, N_HEADS = _image()


def _run(data: bytes) -> None:
    space = AddressSpace([], [Segment(BASE, BASE + len(data), BufferBacking(data), 0)],
                         word_size=4)  # fmt: skip
    try:
        heap = analyse(space)
        areas = [(a.pool_start, c) for a, c in zip(heap.areas, heap.block_chars(), strict=True)]
        alloc_table(areas, heap.block_size)
        objects(heap)
        build(heap)
    except MemlensError:
        pass


def test_the_image_is_a_heap() -> None:
    space = AddressSpace([], [Segment(BASE, BASE + len(DATA), BufferBacking(DATA), 0)],
                         word_size=4)  # fmt: skip
    heap = analyse(space)
    assert len(heap.areas) == 2
    assert len(objects(heap)) == N_HEADS


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_prefixes_and_bit_flips(data: st.DataObject) -> None:
    raw = bytearray(DATA[: data.draw(st.integers(0, len(DATA)))])
    for _ in range(data.draw(st.integers(0, 40))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    _run(bytes(raw))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(range(8)), st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000000]))
def test_huge_values_in_the_area_record(field: int, value: int) -> None:
    raw = bytearray(DATA)
    off = RECORD[field] - BASE
    raw[off : off + 4] = value.to_bytes(4, "little")
    _run(bytes(raw))

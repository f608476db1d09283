"""Text reports of ``memlens mpy``: heap summary, objects, snapshot differences,
and what a ``mem_info`` print says."""

from __future__ import annotations

import sys

from memlens.mpy.fragmentation import Fragmentation, fragmentation
from memlens.mpy.heap import MpyHeap
from memlens.mpy.meminfo_text import MemInfoText
from memlens.mpy.objects import HeapObject, type_stats
from memlens.mpy.typediff import TypeDelta
from memlens.render.mpy_meminfo import alloc_table, info_lines
from memlens.render.table import Column, Table, print_table
from memlens.render.units import human_size


def heap_table(heap: MpyHeap, *, offset_width: int = 8, pointer_prefix: str = "",
               typed: bool = True) -> str:  # fmt: skip
    """``mem_info(1)``'s numbers and table for ``heap``, character for character."""
    chars = heap.block_chars(typed=typed)
    areas = [(a.pool_start, c) for a, c in zip(heap.areas, chars, strict=True)]
    return info_lines(heap.info) + alloc_table(areas, heap.block_size, offset_width=offset_width,
                                               pointer_prefix=pointer_prefix)  # fmt: skip


def summary(heap: MpyHeap, frag: Fragmentation, objs: list[HeapObject], source: str) -> None:
    print(f"{source}: {len(heap.areas)} heap area(s) found by {heap.method}; "
          f"layout {heap.layout.name}; {heap.word_size * 8}-bit {heap.space.byteorder}-endian "
          f"words, {heap.block_size}-byte blocks")  # fmt: skip
    for i, a in enumerate(heap.areas):
        ftb = f", FTB {a.ftb_start:#x}" if a.ftb_start is not None else ""
        print(f"  area {i}: pool {a.pool_start:#x}-{a.pool_end:#x} ({a.n_blocks} blocks), "
              f"ATB {a.atb_start:#x}{ftb}")  # fmt: skip
    sys.stdout.write(info_lines(heap.info))
    print(f"fragmentation: largest free run {human_size(frag.largest_free_bytes)} = "
          f"{100 * frag.largest_over_free:.1f}% of free {human_size(frag.free_bytes)}, "
          f"{frag.free_runs} free runs")  # fmt: skip
    if frag.histogram:
        print("  free runs (blocks: runs): "
              + ", ".join(f"{b}: {c}" for b, c, _ in frag.histogram))  # fmt: skip
    table = Table([Column("type"), Column("count", "right"), Column("bytes", "right")],
                  title="allocations by type")  # fmt: skip
    for t in type_stats(objs):
        table.add(t.type, str(t.count), str(t.bytes))
    print_table(table)


def objects(objs: list[HeapObject]) -> None:
    table = Table([Column("address"), Column("blocks", "right"), Column("bytes", "right"),
                   Column("type"), Column("content")], title="allocations")  # fmt: skip
    for o in objs:
        table.add(f"{o.address:#x}", str(o.blocks), str(o.size), o.type, o.content or "")
    print_table(table)


def diff(rows: list[TypeDelta]) -> None:
    table = Table([Column("type"), Column("allocated", "right"), Column("bytes", "right"),
                   Column("freed", "right"), Column("bytes", "right")],
                  title="since the previous snapshot")  # fmt: skip
    for r in rows:
        table.add(r.type, str(r.allocated), str(r.allocated_bytes), str(r.freed),
                  str(r.freed_bytes))  # fmt: skip
    print_table(table)


def meminfo_table(m: MemInfoText, pointer_prefix: str = "") -> str:
    """The numbers its table gives and the table, as MicroPython prints them."""
    areas = [(a.pool_start, a.chars) for a in m.areas]
    assert m.block_size is not None
    return info_lines(m.derived(), m.max_new_split) + alloc_table(
        areas, m.block_size, offset_width=m.offset_width, pointer_prefix=pointer_prefix)


def meminfo_summary(m: MemInfoText, source: str) -> None:
    print(f"{source}: mem_info text, {len(m.areas)} area(s), block size "
          f"{m.block_size or 'unknown'}")  # fmt: skip
    if m.areas and m.block_size:
        derived = m.derived()
        sys.stdout.write("from the table:\n" + info_lines(derived, m.max_new_split))
        fr = fragmentation([a.states for a in m.areas], derived.block_size)
        print(f"fragmentation: largest free run {human_size(fr.largest_free_bytes)} = "
              f"{100 * fr.largest_over_free:.1f}% of free, {fr.free_runs} free runs")  # fmt: skip
    print("blocks by letter: " + ", ".join(f"{k}:{v}" for k, v in m.letter_counts().items()))
    allocs = m.allocations_by_letter()
    if allocs:
        print("allocations by letter (count, bytes): "
              + ", ".join(f"{k}: {c} {b}" for k, (c, b) in allocs.items()))  # fmt: skip
    for line in m.mismatches():
        print(f"  differs from the printed header: {line}")

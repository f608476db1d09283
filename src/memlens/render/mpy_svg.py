"""Heap layout as SVG, written directly: blocks in address order, one row per
64 blocks, coloured by type, free runs visible.  One ``<rect>`` per
allocation run within a row (not per block), so a 1 MiB heap stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

from memlens.mpy.atb import block_lengths, heads
from memlens.mpy.heap import MpyHeap
from memlens.mpy.meminfo_text import MemInfoText
from memlens.mpy.objects import HeapObject

# A colour per mem_info letter; instances of classes get their own ("h*").
COLOURS: dict[str, str] = {
    ".": "#f4f4f4", "=": "#9e9e9e", "m": "#ff5252", "h": "#b0bec5", "i": "#ce93d8",
    "T": "#ffb74d", "L": "#4fc3f7", "D": "#81c784", "S": "#fff176", "A": "#a1887f",
    "F": "#f06292", "B": "#7986cb", "M": "#4db6ac",
}  # fmt: skip
LEGEND: dict[str, str] = {
    ".": "free", "h": "other", "i": "instance", "T": "tuple", "L": "list", "D": "dict",
    "S": "str/bytes", "A": "bytearray/array", "F": "float", "B": "bytecode function",
    "M": "module", "m": "marked",
}  # fmt: skip

CELL = 12
ROW = 64


@dataclass(frozen=True, slots=True)
class Alloc:
    """One allocation for the picture: where, how long, its letter, a hover text."""

    block: int
    blocks: int
    letter: str
    title: str


def _runs(free: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate(([0], free.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _row_pieces(start: int, length: int) -> list[tuple[int, int]]:
    """Split ``[start, start+length)`` at row boundaries."""
    out = []
    while length > 0:
        take = min(length, ROW - start % ROW)
        out.append((start, take))
        start += take
        length -= take
    return out


def layout_svg(
    areas: Sequence[tuple[int, int, Sequence[Alloc], npt.NDArray[np.bool_]]],
    block_size: int,
    title: str = "MicroPython GC heap",
) -> str:
    """``areas``: (pool start, block count, allocations, free mask) per area."""
    parts: list[str] = []
    y = 40
    width = 90 + ROW * CELL + 10
    for idx, (pool, n, allocs, free) in enumerate(areas):
        parts.append(f'<text x="4" y="{y - 8}" class="t">area {idx}: pool {pool:#x}, '
                     f'{n} blocks of {block_size} B</text>')  # fmt: skip
        rows = (n + ROW - 1) // ROW
        for r in range(0, rows, 8):
            parts.append(f'<text x="4" y="{y + r * CELL + 10}" class="o">'
                         f'{pool + r * ROW * block_size:#x}</text>')  # fmt: skip
        for s, e in _runs(free):
            for b, ln in _row_pieces(s, e - s):
                x, yy = 90 + (b % ROW) * CELL, y + (b // ROW) * CELL
                parts.append(f'<rect x="{x}" y="{yy}" width="{ln * CELL}" height="{CELL - 1}" '
                             f'class="free"><title>free: {ln} blocks at '
                             f'{pool + b * block_size:#x}</title></rect>')  # fmt: skip
        for a in allocs:
            colour = COLOURS.get(a.letter, COLOURS["h"])
            hover = escape(a.title)
            for k, (b, ln) in enumerate(_row_pieces(a.block, a.blocks)):
                x, yy = 90 + (b % ROW) * CELL, y + (b // ROW) * CELL
                attr = f' data-addr="{pool + a.block * block_size:#x}"' if k == 0 else ""
                parts.append(f'<rect x="{x}" y="{yy}" width="{ln * CELL - 1}" '
                             f'height="{CELL - 1}" fill="{colour}" class="blk"{attr}>'
                             f"<title>{hover}</title></rect>")  # fmt: skip
        y += rows * CELL + 40
    ly = y
    for k, (letter, label) in enumerate(LEGEND.items()):
        x = 4 + (k % 6) * 140
        yy = ly + (k // 6) * 18
        parts.append(f'<rect x="{x}" y="{yy}" width="12" height="12" fill="{COLOURS[letter]}"/>')
        parts.append(f'<text x="{x + 16}" y="{yy + 10}" class="t">{escape(label)}</text>')
    height = ly + 50
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="monospace">'
            "<style>.t{font-size:11px}.o{font-size:9px;fill:#555}"
            ".free{fill:#f4f4f4}.blk:hover{stroke:#000;stroke-width:1}</style>"
            f'<text x="4" y="14" class="t">{escape(title)}</text>')  # fmt: skip
    return head + "".join(parts) + "</svg>\n"


def heap_layout_svg(heap: MpyHeap, objs: Sequence[HeapObject], title: str) -> str:
    """The layout picture of an analysed heap: every allocation with its hover text."""
    hd = heap.heads
    per: list[list[Alloc]] = [[] for _ in heap.areas]
    for i, o in enumerate(objs):
        letter = o.letter if o.letter != "h" or not o.type.startswith("instance") else "i"
        text = f"{o.address:#x} {o.type}, {o.blocks} blocks ({o.size} B)"
        if o.content:
            text += f": {o.content}"
        per[int(hd.area[i])].append(Alloc(int(hd.block[i]), o.blocks, letter, text))
    areas = [(a.pool_start, a.n_blocks, per[i], heap.states[i] == 0)
             for i, a in enumerate(heap.areas)]  # fmt: skip
    return layout_svg(areas, heap.block_size, title)


def text_layout_svg(m: MemInfoText, title: str) -> str:
    """The layout picture of a ``mem_info`` print (letters only: no addresses inside)."""
    assert m.block_size is not None
    areas = []
    for a in m.areas:
        s = a.states
        idx = heads(s)
        lens = block_lengths(s, idx)
        allocs = [Alloc(b, n, chr(c), f"{chr(c)}: {n} blocks")
                  for b, n, c in zip(idx.tolist(), lens.tolist(), a.chars[idx].tolist(),
                                     strict=True)]  # fmt: skip
        areas.append((a.pool_start, len(a.chars), allocs, a.chars == ord(".")))
    return layout_svg(areas, m.block_size, title)

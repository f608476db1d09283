"""Objects on the heap: per head block its type, size and cheap decoded content.

Layouts (MicroPython object representation A, the default): ``str``/``bytes``
are ``base, hash, len, data*``; ``list`` is ``base, alloc, len, items*``;
``tuple`` is ``base, len, items[]``; ``dict`` is ``base, map{used<<3|flags,
alloc, table*}``; ``float`` is ``base, double``; ``bytearray`` is ``base,
typecode|free, len, items*``.  A qstr object is ``q << 3 | 2``, a small int
``n << 1 | 1``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.mpy.gather import read_or_none, words_or_none
from memlens.mpy.graph import OwnershipGraph
from memlens.mpy.heap import MpyHeap

PREVIEW = 48
MAX_KEYS = 8
MAX_SLOTS = 4096  # dict slots read for a preview


@dataclass(frozen=True, slots=True)
class HeapObject:
    address: int
    blocks: int
    size: int
    type: str
    letter: str
    content: str | None


@dataclass(frozen=True, slots=True)
class TypeStat:
    type: str
    count: int
    bytes: int


def _word(heap: MpyHeap, addr: int) -> int | None:
    return heap.space.word(addr)


def _short(text: str) -> str:
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _qstr_obj(heap: MpyHeap, value: int) -> str | None:
    if value & 7 == 2:
        return heap.qstrs.get(value >> 3)
    return None


def describe_value(heap: MpyHeap, value: int) -> str:
    """A short text for an ``mp_obj_t``: small int, qstr, str object or address."""
    if value & 1:
        n = value >> 1
        if n >= 1 << (8 * heap.word_size - 2):
            n -= 1 << (8 * heap.word_size - 1)
        return str(n)
    q = _qstr_obj(heap, value)
    if q is not None:
        return repr(q)
    if value and heap.in_heap(value):
        fw = _word(heap, value)
        if fw is not None and heap.types.name_of(fw) in ("str", "bytes"):
            s = _str_content(heap, value)
            if s is not None:
                return s
    return f"{value:#x}"


def _str_content(heap: MpyHeap, addr: int) -> str | None:
    return _str_many(heap, np.array([addr], dtype=np.uint64), True)[0]


def _bytes_content(heap: MpyHeap, addr: int) -> str | None:
    return _str_many(heap, np.array([addr], dtype=np.uint64), False)[0]


def _dict_content(heap: MpyHeap, addr: int) -> str | None:
    ws = heap.word_size
    used = _word(heap, addr + ws)
    alloc = _word(heap, addr + 2 * ws)
    table = _word(heap, addr + 3 * ws)
    if used is None or alloc is None or table is None or alloc > 1 << 20:
        return None
    # the keys shown are in the first slots that hold any; a claimed size is not trusted
    slots = min(alloc, MAX_SLOTS)
    words = words_or_none(heap.space, table, 2 * slots) if slots else np.zeros(0, dtype=np.uint64)
    if words is None:
        return None
    keys: list[str] = []
    for k in words[0::2].tolist():
        if k in (0, 4) or len(keys) >= MAX_KEYS:  # MP_OBJ_NULL, MP_OBJ_SENTINEL
            continue
        keys.append(describe_value(heap, k))
    return _short(f"{used >> 3} keys: " + ", ".join(keys))


def _list_content(heap: MpyHeap, addr: int) -> str | None:
    ws = heap.word_size
    alloc, length = _word(heap, addr + ws), _word(heap, addr + 2 * ws)
    if alloc is None or length is None:
        return None
    return f"len {length}, alloc {alloc}"


def _tuple_content(heap: MpyHeap, addr: int) -> str | None:
    ws = heap.word_size
    length = _word(heap, addr + ws)
    if length is None or length > 1 << 20:
        return None
    items = words_or_none(heap.space, addr + 2 * ws, min(length, MAX_KEYS))
    if items is None:
        return None
    inner = ", ".join(describe_value(heap, v) for v in items.tolist())
    return _short(f"({inner}{', …' if length > MAX_KEYS else ''})")


def _float_content(heap: MpyHeap, addr: int) -> str | None:
    raw = read_or_none(heap.space, addr + heap.word_size, 8)
    if raw is None:
        return None
    order = "<" if heap.space.byteorder == "little" else ">"
    return repr(struct.unpack(order + "d", raw)[0])


def _bytearray_content(heap: MpyHeap, addr: int) -> str | None:
    length = _word(heap, addr + 2 * heap.word_size)
    return None if length is None else f"len {length}"


DECODERS: dict[str, Callable[[MpyHeap, int], str | None]] = {
    "str": _str_content, "bytes": _bytes_content, "dict": _dict_content,
    "list": _list_content, "tuple": _tuple_content, "float": _float_content,
    "bytearray": _bytearray_content,
}  # fmt: skip


def _str_many(heap: MpyHeap, addrs: npt.NDArray[np.uint64], as_text: bool) -> list[str | None]:
    ws = np.uint64(heap.word_size)
    lens, ok1 = heap.gather.words_at(addrs + np.uint64(2) * ws)
    ptrs, ok2 = heap.gather.words_at(addrs + np.uint64(3) * ws)
    out: list[str | None] = []
    for n, p, good in zip(lens.tolist(), ptrs.tolist(), (ok1 & ok2).tolist(), strict=True):
        raw = read_or_none(heap.space, p, min(n, PREVIEW)) if good and n <= 1 << 24 else None
        if raw is None:
            out.append(None)
        elif as_text:
            out.append(_short(repr(raw.decode("utf-8", "replace"))))
        else:
            out.append(_short(repr(raw)))
    return out


def objects(
    heap: MpyHeap, *, decode: bool = True, graph: OwnershipGraph | None = None
) -> list[HeapObject]:
    """Every allocation with its type; content for the cheap types.

    With ``graph``, a block that is not an object (a string's bytes, a list's
    items, a dict's table) is named after the object pointing at it:
    ``(data of list)``.
    """
    hd = heap.heads
    tm = heap.types
    n = len(hd.address)
    uniq, inv = np.unique(hd.first_word, return_inverse=True)
    names: list[str] = []
    for fw in uniq.tolist():
        info = tm.types.get(fw)
        if info is None:
            names.append("(data)")
        elif info.static:
            names.append(info.name)
        else:
            names.append(f"instance of {info.name}")
    inv_list = inv.reshape(-1).tolist()
    tnames = [names[i] for i in inv_list]
    if graph is not None and len(graph.dst):
        order = np.argsort(graph.dst, kind="stable")
        dst_sorted, src_sorted = graph.dst[order], graph.src[order]
        first = np.flatnonzero(np.concatenate(([True], dst_sorted[1:] != dst_sorted[:-1])))
        for child, parent in zip(dst_sorted[first].tolist(), src_sorted[first].tolist(),
                                 strict=True):  # fmt: skip
            if tnames[child] == "(data)" and names[inv_list[parent]] != "(data)":
                tnames[child] = f"(data of {names[inv_list[parent]]})"
    contents: list[str | None] = [None] * n
    if decode:
        for u, fw in enumerate(uniq.tolist()):
            info = tm.types.get(fw)
            if info is None or not info.static or info.name not in DECODERS:
                continue
            idx = np.flatnonzero(inv.reshape(-1) == u)
            if info.name in ("str", "bytes"):
                vals = _str_many(heap, hd.address[idx], info.name == "str")
            else:
                decoder = DECODERS[info.name]
                vals = [decoder(heap, a) for a in hd.address[idx].tolist()]
            for i, v in zip(idx.tolist(), vals, strict=True):
                contents[i] = v
    bsz = heap.block_size
    letters = [chr(c) for c in hd.letter.tolist()]
    return [
        HeapObject(a, b, b * bsz, t, ch, c)
        for a, b, t, ch, c in zip(hd.address.tolist(), hd.blocks.tolist(), tnames, letters,
                                  contents, strict=True)
    ]  # fmt: skip


def type_stats(objs: list[HeapObject]) -> list[TypeStat]:
    """Count and bytes per type, biggest first."""
    acc: dict[str, list[int]] = {}
    for o in objs:
        slot = acc.setdefault(o.type, [0, 0])
        slot[0] += 1
        slot[1] += o.size
    rows = [TypeStat(t, c, b) for t, (c, b) in acc.items()]
    rows.sort(key=lambda r: (-r.bytes, r.type))
    return rows

"""An independent writer of MicroPython heap images, and reference loops.

Nothing here imports memlens: record layouts are written with ``struct`` from
MicroPython's ``mpstate.h`` / ``qstr.h`` field lists, and ``gc_info`` /
``gc_dump_alloc_table`` are re-stated as the plain per-block loops of
``py/gc.c``, so a wrong table in memlens cannot agree with itself.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

LETTERS = {"tuple": "T", "list": "L", "dict": "D", "str": "S", "bytes": "S",
           "bytearray": "A", "float": "F", "function": "B", "module": "M"}  # fmt: skip


@dataclass
class Image:
    base: int
    word: int
    order: str  # "<" or ">"
    data: bytearray = field(default_factory=bytearray)

    def put(self, addr: int, raw: bytes) -> None:
        off = addr - self.base
        if off + len(raw) > len(self.data):
            self.data.extend(b"\0" * (off + len(raw) - len(self.data)))
        self.data[off : off + len(raw)] = raw

    def words(self, addr: int, *values: int) -> None:
        fmt = self.order + ("I" if self.word == 4 else "Q") * len(values)
        self.put(addr, struct.pack(fmt, *values))

    def get_word(self, addr: int) -> int:
        off = addr - self.base
        return int.from_bytes(self.data[off : off + self.word],
                              "little" if self.order == "<" else "big")  # fmt: skip


@dataclass
class SynthArea:
    record: int
    atb: int
    atb_len: int
    ftb: int
    pool: int
    end: int
    kinds: list[int]  # 0 free 1 head 2 tail per block
    heads: dict[int, str]  # block -> type name ("" for raw data)


def setup_area(
    start: int, end: int, block: int, finaliser: bool = True, gap: int = 1
) -> tuple[int, int, int]:
    """gc_setup_area: (alloc table length, finaliser table start, pool start)."""
    total = end - start
    if finaliser:
        atb_len = (total - gap) * 8 // (8 + 8 * 4 // 8 + 8 * 4 * block)
    else:
        atb_len = (total - gap) // (1 + 8 // 2 * block)
    ftb = start + atb_len + gap
    pool = end - atb_len * 4 * block
    return atb_len, ftb, pool


def random_kinds(
    n: int, rng: random.Random, type_names: list[str]
) -> tuple[list[int], dict[int, str]]:
    kinds = [0] * n
    heads: dict[int, str] = {}
    i = 0
    while i < n:
        if rng.random() < 0.35:
            i += rng.choice([1, 1, 2, 3, 7, 64, 130, 200]) if rng.random() < 0.3 else 1
            continue
        length = min(n - i, rng.choice([1, 1, 1, 2, 2, 3, 5, 9, 40]))
        kinds[i] = 1
        for j in range(i + 1, i + length):
            kinds[j] = 2
        heads[i] = rng.choice(type_names)
        i += length
    return kinds, heads


def write_heap(
    img: Image,
    rng: random.Random,
    spans: list[tuple[int, int]],
    record_static: int,
    type_addr: dict[str, int],
    finaliser: bool = True,
    gap: int = 1,
    fill: Callable[[int], tuple[list[int], dict[int, str]]] | None = None,
) -> list[SynthArea]:
    """Areas over ``spans``; the first record at ``record_static``, the others
    just before their tables (gc_add), all linked by ``next`` (split heap).
    ``fill(n_blocks)`` gives each area's block kinds and typed heads (default:
    :func:`random_kinds`)."""
    w = img.word
    block = 4 * w
    rec_words = 8  # next, atb, atb_len, ftb, pool, end, last_free, last_used
    areas: list[SynthArea] = []
    for k, (start, end) in enumerate(spans):
        if k == 0:
            record = record_static
            tables = start
        else:
            record = start
            tables = start + rec_words * w
        atb_len, ftb, pool = setup_area(tables, end, block, finaliser, gap)
        if fill is None:
            kinds, heads = random_kinds(atb_len * 4, rng, [*type_addr, ""])
        else:
            kinds, heads = fill(atb_len * 4)
        atb = bytearray(atb_len)
        for b, kind in enumerate(kinds):
            atb[b // 4] |= kind << (2 * (b % 4))
        img.put(tables, bytes(atb) + b"\0" * gap)
        if finaliser:
            img.put(ftb, b"\0" * ((atb_len * 4 + 7) // 8))
        img.put(pool, b"\0" * (end - pool))
        for b, tname in heads.items():
            addr = pool + b * block
            if tname:
                img.words(addr, type_addr[tname])
            else:
                img.words(addr, 0x5A5A5A5A)  # raw data: not a type pointer
        areas.append(SynthArea(record, tables, atb_len, ftb, pool, end, kinds, heads))
    for k, a in enumerate(areas):
        nxt = areas[k + 1].record if k + 1 < len(areas) else 0
        fields = [nxt, a.atb, a.atb_len, *([a.ftb] if finaliser else []), a.pool, a.end, 0, 0]
        img.words(a.record, *fields)
    return areas


def link_heads(img: Image, areas: list[SynthArea]) -> list[tuple[int, int]]:
    """Word 3 of every typed head points at the next head of its area: the edges."""
    block = 4 * img.word
    edges = []
    for a in areas:
        order = sorted(a.heads)
        for b, nxt in itertools.pairwise(order):
            if a.heads[b]:
                src, dst = a.pool + b * block, a.pool + nxt * block
                img.words(src + 3 * img.word, dst)
                edges.append((src, dst))
    return edges


def write_types(img: Image, at: int, names: list[str], qstr_first: int) -> dict[str, int]:
    """type_type, a qstr pool holding the names, and one type object per name."""
    w = img.word
    type_type = at
    strings_at = at + 0x400
    lengths_at = at + 0x300
    hashes_at = at + 0x280
    pool_at = at + 0x100
    all_names = ["type", *names]
    ptrs = []
    cursor = strings_at
    for nm in all_names:
        img.put(cursor, nm.encode() + b"\0")
        ptrs.append(cursor)
        cursor += len(nm) + 1
    img.put(lengths_at, bytes(len(nm) for nm in all_names))
    img.put(hashes_at, bytes(len(all_names) * 2))
    img.words(pool_at, 0, qstr_first, len(all_names), len(all_names), hashes_at, lengths_at, *ptrs)
    out = {}
    fmt = img.order + "HH"
    for i, nm in enumerate(all_names):
        addr = type_type if i == 0 else at + 0x800 + i * 8 * w
        img.words(addr, type_type)
        img.put(addr + w, struct.pack(fmt, 0, qstr_first + i))
        out[nm] = addr
    del out["type"]
    return out


def ref_info(areas: list[list[int]], block: int) -> tuple[int, ...]:
    """gc_info, one block at a time."""
    used = free = n1 = n2 = max_block = max_free = 0
    for kinds in areas:
        length = len_free = 0
        n = len(kinds)
        for b in range(n):
            kind = kinds[b]
            if kind == 0:
                free += 1
                len_free += 1
                length = 0
            elif kind == 1:
                used += 1
                length = 1
            elif kind == 2:
                used += 1
                length += 1
            finish = b + 1 == n
            nxt = None if finish else kinds[b + 1]
            if finish or nxt in (0, 1):
                if length == 1:
                    n1 += 1
                elif length == 2:
                    n2 += 1
                max_block = max(max_block, length)
                if finish or nxt == 1:
                    max_free = max(max_free, len_free)
                    len_free = 0
    total = sum(len(k) for k in areas) * block
    return total, used * block, free * block, n1, n2, max_block, max_free


def ref_table(areas: list[tuple[int, list[str]]], block: int) -> str:
    """gc_dump_alloc_table, one block at a time."""
    out = ""
    for pool, chars in areas:
        out += f"GC memory layout; from {pool:x}:"
        n = len(chars)
        bl = 0
        while bl < n:
            if bl % 64 == 0:
                bl2 = bl
                while bl2 < n and chars[bl2] == ".":
                    bl2 += 1
                if bl2 - bl >= 128:
                    out += f"\n       ({(bl2 - bl) // 64} lines all free)"
                    bl = bl2 & ~63
                    if bl >= n:
                        break
                out += f"\n{(bl * block) & 0xFFFFFFFF:08x}: "
            out += chars[bl]
            bl += 1
        out += "\n"
    return out

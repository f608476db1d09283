"""Heaps written by an independent writer: 64-bit and 32-bit, both byte orders,
split heaps, and damaged dumps."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from memlens.errors import FormatError, MemlensError
from memlens.mpy.graph import build
from memlens.mpy.heap import analyse
from memlens.render.mpy_meminfo import alloc_table
from memlens.sources.options import OpenOptions
from memlens.targets import open_target

from .synth import LETTERS, Image, link_heads, ref_info, ref_table, write_heap, write_types

_EDGES: dict[tuple[object, ...], list[tuple[int, int]]] = {}
NAMES = ["str", "list", "tuple", "dict", "float", "bytearray", "module", "function", "Foo"]


def _make(tmp_path: Path, word: int, order: str, n_areas: int, seed: int,  # type: ignore[type-arg]
          finaliser: bool = True, gap: int = 1) -> tuple[Path, list]:  # fmt: skip
    rng = random.Random(seed)
    base = 0x20000000 if word == 4 else 0x7F0000000000
    img = Image(base, word, order)
    types = write_types(img, base + 0x1000, NAMES, qstr_first=700)
    spans = []
    cursor = base + 0x10000
    for k in range(n_areas):
        size = rng.choice([0x3000, 0x8000, 0x11000]) + 0x40 * k
        spans.append((cursor, cursor + size))
        cursor += size + 0x2000
    areas = write_heap(img, rng, spans, base + 0x200, types, finaliser, gap)
    _EDGES[(word, order, n_areas, seed, finaliser, gap)] = link_heads(img, areas)
    path = tmp_path / f"heap-{word}-{order == '<'}-{n_areas}-{seed}.bin"
    path.write_bytes(bytes(img.data))
    return path, areas


def _open(path: Path, word: int, order: str):  # type: ignore[no-untyped-def]
    base = 0x20000000 if word == 4 else 0x7F0000000000
    opts = OpenOptions(format="raw", base=base, word_size=word,
                       endian="little" if order == "<" else "big")  # fmt: skip
    return open_target(str(path), opts)


@pytest.mark.parametrize("word", [4, 8])
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("n_areas,seed", [(1, 1), (3, 2), (2, 3)])
def test_matches_reference_loops(tmp_path: Path, word: int, order: str, n_areas: int,
                                 seed: int) -> None:  # fmt: skip
    path, areas = _make(tmp_path, word, order, n_areas, seed)
    block = 4 * word
    with _open(path, word, order) as snap:
        heap = analyse(snap.space)
        assert [a.pool_start for a in heap.areas] == [a.pool for a in areas]
        assert [a.atb_len for a in heap.areas] == [a.atb_len for a in areas]
        assert [a.record for a in heap.areas][1:] == [a.record for a in areas][1:]
        info = heap.info
        mine_info = (info.total, info.used, info.free, info.num_1block, info.num_2block,
                     info.max_block, info.max_free)  # fmt: skip
        assert mine_info == ref_info([a.kinds for a in areas], block)
        ref_chars = []
        for a in areas:
            chars = [".h="[k] for k in a.kinds]
            for b, tname in a.heads.items():
                chars[b] = LETTERS.get(tname, "h")
            ref_chars.append((a.pool, chars))
        mine = [(a.pool_start, c) for a, c in zip(heap.areas, heap.block_chars(), strict=True)]
        assert alloc_table(mine, block) == ref_table(ref_chars, block)
        names = {t.name for t in heap.types.types.values()}
        assert names == {t for a in areas for t in a.heads.values() if t}
        g = build(heap)
        assert len(g.reachable) == sum(len(a.heads) for a in areas)
        addr = heap.heads.address
        got = sorted((int(addr[x]), int(addr[y])) for x, y in zip(g.src, g.dst, strict=True))
        assert got == sorted(_EDGES[(word, order, n_areas, seed, True, 1)])


@pytest.mark.parametrize("word", [4, 8])
@pytest.mark.parametrize("finaliser,gap", [(False, 1), (True, 0), (False, 0)])
def test_other_table_layouts(tmp_path: Path, word: int, finaliser: bool, gap: int) -> None:
    # split heaps (2023) came after the gap byte (2021): no split heap without a gap
    n_areas = 2 if gap else 1
    path, areas = _make(tmp_path, word, "<", n_areas, 9, finaliser, gap)
    with _open(path, word, "<") as snap:
        heap = analyse(snap.space)
        assert heap.layout.finaliser is finaliser
        assert [a.pool_start for a in heap.areas] == [a.pool for a in areas]
        assert heap.layout.gap == gap or (not finaliser and heap.layout.gap == 1)
        assert [a.ftb_start is not None for a in heap.areas] == [finaliser] * n_areas
        info = heap.info
        mine = (info.total, info.used, info.free, info.num_1block, info.num_2block,
                info.max_block, info.max_free)  # fmt: skip
        assert mine == ref_info([a.kinds for a in areas], 4 * word)


def test_truncated_dump_is_a_clear_error(tmp_path: Path) -> None:
    path, areas = _make(tmp_path, 8, "<", 1, 5)
    data = path.read_bytes()
    cut = tmp_path / "cut.bin"
    # keep the record and the tables, lose most of the pool
    cut.write_bytes(data[: areas[0].pool - 0x7F0000000000 + 64])
    with _open(cut, 8, "<") as snap:
        heap = analyse(snap.space)
        # the allocation table alone still gives the numbers
        info = heap.info
        ref = ref_info([a.kinds for a in areas], 32)
        assert (info.total, info.used, info.free, info.max_free) == (ref[0], ref[1], ref[2], ref[6])
        with pytest.raises(FormatError, match="heap pool not saved"):
            heap.heads  # noqa: B018
    # and the command says so in one line, after printing what it could
    out = subprocess.run([str(Path(sys.executable).with_name("memlens")), "mpy", str(cut),
                          "--base", "0x7f0000000000", "--table"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 3
    assert out.stdout.startswith(f"GC: total: {ref[0]}, used: {ref[1]}, free: {ref[2]}\n")
    assert out.stderr.count("\n") == 1 and "heap pool not saved" in out.stderr


def test_tables_cut_off_is_an_error(tmp_path: Path) -> None:
    path, areas = _make(tmp_path, 8, "<", 1, 5)
    cut = tmp_path / "cut2.bin"
    cut.write_bytes(path.read_bytes()[: areas[0].atb - 0x7F0000000000 + 10])
    with _open(cut, 8, "<") as snap, pytest.raises(FormatError, match="no MicroPython GC heap"):
        analyse(snap.space)


def test_corrupt_table_is_refused(tmp_path: Path) -> None:
    path, areas = _make(tmp_path, 4, "<", 1, 6)
    data = bytearray(path.read_bytes())
    atb = areas[0].atb - 0x20000000
    kinds = areas[0].kinds
    b = next(b for b in range(1, len(kinds)) if kinds[b - 1] == 0 and kinds[b] == 0)
    data[atb + b // 4] |= 2 << (2 * (b % 4))  # a tail right after a free block
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    with _open(bad, 4, "<") as snap, pytest.raises(MemlensError):
        analyse(snap.space)


def test_empty_and_random_dumps(tmp_path: Path) -> None:
    rnd = tmp_path / "random.bin"
    rnd.write_bytes(random.Random(7).randbytes(1 << 16))
    with _open(rnd, 4, "<") as snap, pytest.raises(FormatError):
        analyse(snap.space)

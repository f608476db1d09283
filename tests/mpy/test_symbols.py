"""The symbol path: a gcc-built look-alike of MicroPython's state structs
(DWARF from -g), a heap image written for it by the independent writer, and
the same heap found through DWARF, through the layout probe (no DWARF), through
a GNU ld map, and by structure alone."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from memlens.mpy import symbols
from memlens.mpy.heap import analyse
from memlens.mpy.memory import prepare
from memlens.render.mpy_meminfo import alloc_table
from memlens.sources.options import OpenOptions
from memlens.targets import open_target

from ..conftest import compile_c, need_tool
from .synth import LETTERS, Image, ref_table, write_heap

# Field names from MicroPython's py/mpstate.h; everything else here is ours.
# MICROPY_MEM_STATS-style counters come first, so the area is not at offset 0.
SOURCE = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
typedef uint8_t byte;
typedef struct _mp_obj_type_t {
    const struct _mp_obj_type_t *type; uint16_t flags; uint16_t name;
} mp_obj_type_t;
typedef struct _mp_state_mem_area_t {
    struct _mp_state_mem_area_t *next;
    byte *gc_alloc_table_start;
    size_t gc_alloc_table_byte_len;
    byte *gc_finaliser_table_start;
    byte *gc_pool_start;
    byte *gc_pool_end;
    size_t gc_last_free_atb_index;
    size_t gc_last_used_block;
} mp_state_mem_area_t;
typedef struct _mp_state_mem_t {
    size_t total_bytes_allocated, current_bytes_allocated, peak_bytes_allocated;
    mp_state_mem_area_t area;
    int gc_stack_overflow;
} mp_state_mem_t;
typedef struct _mp_state_thread_t { char *stack_top; void *pystack[5]; } mp_state_thread_t;
typedef struct _mp_state_vm_t { void *root[11]; } mp_state_vm_t;
typedef struct _mp_state_ctx_t {
    mp_state_thread_t thread; mp_state_vm_t vm; mp_state_mem_t mem;
} mp_state_ctx_t;
mp_state_ctx_t mp_state_ctx;
const mp_obj_type_t mp_type_type = {&mp_type_type, 0, 1};
const mp_obj_type_t mp_type_list = {&mp_type_type, 0, 2};
const mp_obj_type_t mp_type_str = {&mp_type_type, 0, 3};
const mp_obj_type_t mp_type_tuple = {&mp_type_type, 0, 4};
const mp_obj_type_t mp_type_dict = {&mp_type_type, 0, 5};
const mp_obj_type_t mp_type_float = {&mp_type_type, 0, 6};
int main(void) {
    printf("%zu %zu %zu %zu %zu\n", offsetof(mp_state_ctx_t, mem.area),
           offsetof(mp_state_mem_area_t, gc_alloc_table_start),
           offsetof(mp_state_mem_area_t, gc_pool_end), offsetof(mp_state_mem_area_t, next),
           sizeof(mp_state_ctx_t));
    return mp_state_ctx.mem.gc_stack_overflow;
}
"""
TYPES = ["list", "str", "tuple", "dict", "float"]


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    need_tool("nm")
    d = tmp_path_factory.mktemp("fw")
    exe = compile_c(SOURCE, d / "fw", "-no-pie", "-O0", f"-Wl,-Map={d / 'fw.map'}")
    printed = [int(x) for x in subprocess.run([str(exe)], capture_output=True, text=True,
                                              check=True).stdout.split()]  # fmt: skip
    nm = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    addrs = {p[2]: int(p[0], 16) for p in (ln.split() for ln in nm.splitlines()) if len(p) == 3}
    stripped = d / "fw-nodebug"
    subprocess.run(["objcopy", "--strip-debug", str(exe), str(stripped)], check=True)
    # RAM image: from the page holding the type objects up to well past the heap
    base = min(addrs["mp_type_type"], addrs["mp_state_ctx"]) & ~0xFFF
    img = Image(base, 8, "<")
    ctx = addrs["mp_state_ctx"]
    cursor = (ctx + 0x1000) & ~0xFFF
    spans = [(cursor, cursor + 0x9000), (cursor + 0xA000, cursor + 0xF000)]
    areas = write_heap(img, random.Random(11), spans, ctx + printed[0],
                       {t: addrs[f"mp_type_{t}"] for t in TYPES})  # fmt: skip
    # a root: mp_state_ctx.vm.root[3] (offset 48 + 24) points at the first allocation
    first_head = min(areas[0].heads)
    img.words(ctx + 72, areas[0].pool + first_head * 32)
    dump = d / "ram.bin"
    dump.write_bytes(bytes(img.data))
    return {"exe": exe, "stripped": stripped, "map": d / "fw.map", "printed": printed,
            "addrs": addrs, "areas": areas, "dump": dump, "base": base}  # fmt: skip


def _analyse(fw: dict[str, object], syms: symbols.FirmwareSymbols | None):  # type: ignore[no-untyped-def]
    opts = OpenOptions(format="raw", base=int(fw["base"]), word_size=8)  # type: ignore[call-overload]
    snap = open_target(str(fw["dump"]), opts)
    return snap, analyse(snap.space, symbols=syms)


def test_dwarf_offsets_match_the_compiler(firmware: dict[str, object]) -> None:
    fw = symbols.from_elf(str(firmware["exe"]))
    printed = firmware["printed"]
    assert isinstance(printed, list)
    assert fw.area_offset == printed[0]
    assert fw.area_members["gc_alloc_table_start"] == printed[1]
    assert fw.area_members["gc_pool_end"] == printed[2]
    assert fw.area_members["next"] == printed[3]
    assert fw.addresses["mp_state_ctx"] == firmware["addrs"]["mp_state_ctx"]  # type: ignore[index]


@pytest.mark.parametrize("how", ["dwarf", "probe", "map", "structure"])
def test_same_heap_every_way(firmware: dict[str, object], how: str) -> None:
    if how == "dwarf":
        syms = symbols.from_elf(str(firmware["exe"]))
    elif how == "probe":
        syms = symbols.from_elf(str(firmware["stripped"]))
        assert syms.area_offset is None
    elif how == "map":
        syms = symbols.from_map(str(firmware["map"]), None)
    else:
        syms = None
    areas = firmware["areas"]
    assert isinstance(areas, list)
    snap, heap = _analyse(firmware, syms)
    with snap:
        expected_method = {"dwarf": "DWARF", "probe": "layout probe", "map": "layout probe",
                           "structure": "structure"}[how]  # fmt: skip
        assert expected_method in heap.method
        assert [a.pool_start for a in heap.areas] == [a.pool for a in areas]
        assert [a.atb_len for a in heap.areas] == [a.atb_len for a in areas]
        if how == "dwarf":
            assert len(heap.areas) == 2 and heap.areas[0].next == areas[1].record
        chars = [(a.pool_start, c) for a, c in zip(heap.areas, heap.block_chars(), strict=True)]
        got = alloc_table(chars, 32)
    ref = []
    for a in areas[: len(heap.areas)]:
        cs = [".h="[k] for k in a.kinds]
        for b, tname in a.heads.items():
            # letters come from symbols; without them the type objects (zeros
            # in this dump) cannot be recognised, and every head prints "h"
            cs[b] = LETTERS.get(tname, "h") if syms is not None else "h"
        ref.append((a.pool, cs))
    assert got == ref_table(ref, 32)


def test_roots_named_by_symbols(firmware: dict[str, object]) -> None:
    import json
    import sys

    areas = firmware["areas"]
    assert isinstance(areas, list)
    target = areas[0].pool + min(areas[0].heads) * 32
    out = subprocess.run(
        [str(Path(sys.executable).with_name("memlens")), "mpy", str(firmware["dump"]),
         "--base", hex(int(firmware["base"])), "--word-size", "8",  # type: ignore[call-overload]
         "--elf", str(firmware["exe"]), "--json"],
        capture_output=True, text=True, check=True)  # fmt: skip
    g = json.loads(out.stdout)["graph"]
    named = {(n, t) for (_, t), n in zip(g["roots"], g["root_symbols"], strict=True)}
    # named by DWARF: the field of mp_state_ctx that holds the pointer (offset 0x48)
    assert ("mp_state_ctx.vm.root[3]", target) in named


def test_map_and_firmware_image(firmware: dict[str, object], tmp_path: Path) -> None:
    """--map + --bin: static type objects are read from the firmware image, mapped
    where the map says the loaded sections begin; the RAM dump holds only RAM."""
    exe = firmware["exe"]
    addrs = firmware["addrs"]
    printed = firmware["printed"]
    assert isinstance(addrs, dict) and isinstance(printed, list)
    fw_bin = tmp_path / "fw.bin"
    subprocess.run(["objcopy", "-O", "binary", str(exe), str(fw_bin)], check=True)
    ctx = addrs["mp_state_ctx"]
    img = Image(ctx, 8, "<")
    start = (ctx + 0x1000) & ~0xFFF
    areas = write_heap(img, random.Random(12), [(start, start + 0x6000)], ctx + printed[0],
                       {t: addrs[f"mp_type_{t}"] for t in TYPES})  # fmt: skip
    ram = tmp_path / "ram.bin"
    ram.write_bytes(bytes(img.data))
    syms = symbols.from_map(str(firmware["map"]), str(fw_bin))
    assert [(i.path, i.offset) for i in syms.images] == [(str(fw_bin), 0)]
    opts = OpenOptions(format="raw", base=ctx, word_size=8)
    with open_target(str(ram), opts) as snap:
        mem = prepare(snap, syms)
        heap = analyse(mem.space, symbols=mem.symbols)
        # the type objects come from the image: their first word is &mp_type_type
        assert heap.space.word(addrs["mp_type_list"]) == addrs["mp_type_type"]
        assert [a.pool_start for a in heap.areas] == [areas[0].pool]
        chars = [(a.pool_start, c) for a, c in zip(heap.areas, heap.block_chars(), strict=True)]
        got = alloc_table(chars, 32)
    cs = [".h="[k] for k in areas[0].kinds]
    for b, tname in areas[0].heads.items():
        cs[b] = LETTERS.get(tname, "h")
    assert got == ref_table([(areas[0].pool, cs)], 32)

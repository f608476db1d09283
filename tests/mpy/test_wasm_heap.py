"""Real MicroPython heaps (WebAssembly port): memlens, with no symbols, must
reproduce the numbers and the mem_info(1) table that MicroPython printed for
exactly the dumped heap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memlens.mpy import meminfo_text
from memlens.mpy.heap import analyse
from memlens.mpy.objects import objects
from memlens.render.mpy_meminfo import alloc_table, info_lines
from memlens.sources.options import OpenOptions
from memlens.targets import open_target

from .wasm import Capture, capture

CASES = {
    "objects-64k": (["objects.upy"], 65536),
    "objects-256k": (["objects.upy"], 262144),
    "fragmented-128k": (["fragment_build.upy", "fragment_free.upy", "fragment_show.upy"], 131072),
    "auto-split-16k": (["grow.upy"], 16384),
    "auto-split-64k": (["grow.upy"], 65536),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Capture:
    scripts, heapsize = CASES[request.param]
    return capture(tmp_path_factory.mktemp("mpy") / request.param, scripts, heapsize)


def _printed(text: str) -> tuple[str, str, str]:
    """(GC line without max new split, counts line, table) as MicroPython printed them."""
    lines = text.replace("\r\n", "\n")
    gc_line = next(ln for ln in lines.splitlines() if ln.startswith("GC: total:"))
    gc_line = gc_line.split(", max new split:")[0]
    counts = next(ln for ln in lines.splitlines() if ln.startswith(" No. of 1-blocks:"))
    table = lines[lines.index("GC memory layout") :]
    return gc_line, counts, table


def _heap(c: Capture, k: int = 0):  # type: ignore[no-untyped-def]
    opts = OpenOptions(format="raw", base=0, word_size=4, snapshot_size=c.snapshot_size,
                       snapshot=k)  # fmt: skip
    snap = open_target(str(c.dump), opts)
    return snap, analyse(snap.space, source=snap.source)


def test_numbers_and_table_match_micropython(case: Capture) -> None:
    gc_line, counts, table = _printed(case.texts[0])
    snap, heap = _heap(case)
    with snap:
        mine = info_lines(heap.info).splitlines()
        assert mine[0] == gc_line
        assert mine[1] == counts
        areas = [(a.pool_start, c) for a, c in zip(heap.areas, heap.block_chars(), strict=True)]
        assert alloc_table(areas, heap.block_size) == table


def test_text_parse_agrees(case: Capture) -> None:
    _, _, table = _printed(case.texts[0])
    parsed = meminfo_text.parse(case.texts[0])
    assert parsed.header is not None and parsed.block_size == 16
    derived = parsed.derived()
    assert derived.total == parsed.header.total
    assert (derived.used, derived.free) == (parsed.header.used, parsed.header.free)
    assert (derived.num_1block, derived.num_2block, derived.max_block, derived.max_free) == (
        parsed.header.num_1block, parsed.header.num_2block, parsed.header.max_block,
        parsed.header.max_free)  # fmt: skip
    # and the parse agrees with the dump
    snap, heap = _heap(case)
    with snap:
        assert derived == heap.info
        assert [a.pool_start for a in parsed.areas] == [a.pool_start for a in heap.areas]
        for ta, chars in zip(parsed.areas, heap.block_chars(), strict=True):
            assert np.array_equal(ta.chars, chars)
        by_letter: dict[str, tuple[int, int]] = {}
        for o in objects(heap):
            c, b = by_letter.get(o.letter, (0, 0))
            by_letter[o.letter] = (c + 1, b + o.size)
        assert parsed.allocations_by_letter() == dict(sorted(by_letter.items()))
    areas = [(a.pool_start, a.chars) for a in parsed.areas]
    assert alloc_table(areas, 16) == table


def test_split_heap_found_when_it_grew(tmp_path: Path) -> None:
    c = capture(tmp_path / "grow", ["grow.upy"], 16384)
    n_areas = c.texts[0].count("GC memory layout")
    assert n_areas >= 2
    snap, heap = _heap(c)
    with snap:
        assert len(heap.areas) == n_areas
        assert heap.layout.next_word == -1
        # areas added by gc_add keep their record just before their table
        for a in heap.areas[1:]:
            assert a.record is not None and 0 < a.atb_start - a.record <= 64


def test_objects_decoded(tmp_path: Path) -> None:
    c = capture(tmp_path / "obj", ["objects.upy"], 65536)
    snap, heap = _heap(c)
    with snap:
        objs = objects(heap)
    by_type: dict[str, int] = {}
    for o in objs:
        by_type[o.type] = by_type.get(o.type, 0) + 1
    assert by_type["instance of Point"] == 40
    contents = {o.content for o in objs if o.type == "str"}
    for i in range(150):
        assert repr(f"name-{i}") in contents
    table = [o for o in objs if o.type == "dict" and o.content and o.content.startswith("60 keys")]
    assert len(table) == 1
    listed = str(table[0].content)[len("60 keys: ") :].rstrip("…").split(", ")
    assert len(listed) >= 4
    assert all(k.startswith("'key") for k in listed[:4])
    assert {int(k.strip("'")[3:]) for k in listed[:4]} <= set(range(60))
    tup = [o for o in objs if o.type == "tuple" and o.content and o.content.startswith("(0, 1, 2")]
    assert len(tup) == 1


def test_snapshot_all_over_concatenated_dumps(tmp_path: Path) -> None:
    scripts = ["fragment_build.upy", "fragment_show.upy", "fragment_free.upy",
               "fragment_show.upy", "objects.upy"]  # fmt: skip
    c = capture(tmp_path / "multi", scripts, 131072)
    assert len(c.texts) == 3
    out = subprocess.run(
        [str(Path(sys.executable).with_name("memlens")), "mpy", str(c.dump), "--base", "0",
         "--word-size", "4", "--snapshot-size", str(c.snapshot_size), "--snapshot", "all",
         "--json"], capture_output=True, text=True, check=True)  # fmt: skip
    doc = json.loads(out.stdout)
    assert doc["kind"] == "mpy-snapshots"
    assert len(doc["snapshots"]) == 3
    for k, row in enumerate(doc["snapshots"]):
        gc_line, counts, _ = _printed(c.texts[k])
        g = row["gc"]
        assert gc_line == f"GC: total: {g['total']}, used: {g['used']}, free: {g['free']}"
        assert counts == (
            f" No. of 1-blocks: {g['num_1block']}, 2-blocks: {g['num_2block']}, "
            f"max blk sz: {g['max_block']}, max free sz: {g['max_free']}"
        )
    # the last script allocated 40 Point instances and freed nothing it made
    last = {d["type"]: d for d in doc["snapshots"][2]["diff"]}
    assert last["instance of Point"]["allocated"] == 40
    assert last["instance of Point"]["freed"] == 0


def test_elf_core_input(tmp_path: Path) -> None:
    """The same real heap inside an ELF core (32-bit, two PT_LOADs and an unsaved tail)."""
    from ..sources.elfcore.corewriter import Core, Load

    c = capture(tmp_path / "obj", ["objects.upy"], 65536)
    data = c.dump.read_bytes()
    split = 0x20000  # below the heap: the tables and the pool land in the second load
    tail = len(data) - split + 0x10000  # memsz beyond filesz: mapped, not saved
    core = Core(bits=32, machine=3, loads=[Load(0, data[:split]),
                                           Load(split, data[split:], memsz=tail)])  # fmt: skip
    path = tmp_path / "core"
    path.write_bytes(core.build())
    out = subprocess.run([str(Path(sys.executable).with_name("memlens")), "mpy", str(path),
                          "--table"], capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    gc_line, counts, table = _printed(c.texts[0])
    assert out.stdout == f"{gc_line}\n{counts}\n{table}"

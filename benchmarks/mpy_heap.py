"""memlens mpy on a real 1 MiB MicroPython heap, beside the per-block Python
loops a script like the CircuitPython heap visualizer runs (the reference loops
of tests/mpy/synth.py, which re-state py/gc.c one block at a time), and beside
MicroPython itself printing mem_info(1) for the same heap.

usage: .venv/bin/python benchmarks/mpy_heap.py   (needs node and scripts/setup --test)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "mpy"))

from synth import ref_info, ref_table  # noqa: E402

from memlens.mpy.atb import gc_info  # noqa: E402
from memlens.mpy.graph import build  # noqa: E402
from memlens.mpy.heap import analyse  # noqa: E402
from memlens.mpy.objects import objects  # noqa: E402
from memlens.render.mpy_meminfo import alloc_table, info_lines  # noqa: E402
from memlens.sources.options import OpenOptions  # noqa: E402
from memlens.targets import open_target  # noqa: E402

RUNS = 5


def best(fn, runs: int = RUNS) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    t = time.perf_counter()
    meta = subprocess.run(
        ["node", str(ROOT / "tests/mpy/capture.mjs"), "--heapsize", str(1 << 20), "--out",
         str(tmp / "heap"), str(ROOT / "tests/mpy/workloads/fill.upy")],
        capture_output=True, text=True, check=True)  # fmt: skip
    node_total = time.perf_counter() - t
    size = json.loads(meta.stdout)["snapshot_size"]
    dump = tmp / "heap.bin"
    opts = OpenOptions(format="raw", base=0, word_size=4)

    def numbers_and_table() -> str:
        with open_target(str(dump), opts) as snap:
            heap = analyse(snap.space)
            chars = heap.block_chars()
            return info_lines(heap.info) + alloc_table(
                [(a.pool_start, c) for a, c in zip(heap.areas, chars, strict=True)], 16)

    snap = open_target(str(dump), opts)
    heap = analyse(snap.space)
    heap.heads  # noqa: B018  (types and heads, counted in numbers_and_table above)

    def objects_and_graph() -> tuple[int, int]:
        graph = build(heap)
        return len(objects(heap, graph=graph)), len(graph.src)

    objs = objects(heap)

    def svg() -> int:
        from memlens.render.mpy_svg import heap_layout_svg

        return len(heap_layout_svg(heap, objs, "bench"))

    kinds = [[int(k) for k in s.tolist()] for s in heap.states]
    typed = heap.block_chars()
    char_lists = [(a.pool_start, [chr(c) for c in ch.tolist()])
                  for a, ch in zip(heap.areas, typed, strict=True)]  # fmt: skip

    def loops() -> str:
        return str(ref_info(kinds, 16)) + ref_table(char_lists, 16)

    def vectorised() -> str:
        info = gc_info(heap.states, [a.pool_end - a.pool_start for a in heap.areas], 16)
        areas = [(a.pool_start, c) for a, c in zip(heap.areas, typed, strict=True)]
        return info_lines(info) + alloc_table(areas, 16)

    t_num, text = best(numbers_and_table)
    t_obj, counts = best(objects_and_graph)
    t_svg, svg_len = best(svg)
    t_loop, _ = best(loops, 3)
    t_vec, _ = best(vectorised)
    printed = (tmp / "heap.0.txt").read_text().replace("\r\n", "\n")
    assert text == printed[printed.index("GC: total"):].replace(
        printed[printed.index(", max new split"):printed.index("\n", printed.index("GC: total"))],
        "")  # fmt: skip
    print(f"machine: {platform.machine()}, {platform.python_version()}, dump {size} bytes, "
          f"heap {heap.info.total} bytes in {len(heap.areas)} area(s), {len(objs)} allocations")
    print(f"numbers + mem_info(1) table (open, locate, types, text): {t_num:.3f} s")
    print(f"objects + ownership graph ({counts}): {t_obj:.3f} s")
    print(f"layout SVG ({svg_len} bytes): {t_svg:.3f} s")
    print(f"gc_info + table from the block states: numpy {t_vec * 1000:.1f} ms, per-block "
          f"Python loops (seed style) {t_loop * 1000:.1f} ms -> {t_loop / t_vec:.1f}x")
    print(f"MicroPython (wasm, node) start + run workload + print mem_info(1): {node_total:.3f} s")


if __name__ == "__main__":
    main()

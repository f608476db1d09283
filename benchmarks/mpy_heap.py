"""memlens mpy on real unix-port MicroPython heaps (1 MiB and 8 MiB, 64-bit PIE),
dumped by gdb gcore while the interpreter waits right after printing
mem_info(1); every timed table is checked against that printout first.

Timed in-process (best of RUNS), after one warm-up run:
  numbers + table  open the core, locate the heap, types, the mem_info(1) text
  objects + graph  the same plus every object decoded and the ownership graph
  layout SVG       the picture of every allocation
  HTML page        open, analyse, 1500-node graph through Graphviz dot, the page (1 run)

usage: .venv/bin/python benchmarks/mpy_heap.py [heap sizes in MiB, default 1 8]
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mpy.unixport import running, unpack  # noqa: E402

from memlens.mpy.session import HeapReport, analyse_snapshot  # noqa: E402
from memlens.render import mpy_dot, mpy_html  # noqa: E402
from memlens.render.mpy_svg import heap_layout_svg  # noqa: E402
from memlens.render.mpy_text import heap_table  # noqa: E402
from memlens.sources.options import OpenOptions  # noqa: E402
from memlens.targets import open_target  # noqa: E402

RUNS = 3


def best(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, object]:
    fn()  # warm-up: page cache, lazy imports
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def analysed(core: Path, detail: bool) -> Callable[[], tuple[HeapReport, str]]:
    def run() -> tuple[HeapReport, str]:
        with open_target(str(core), OpenOptions()) as snap:
            r = analyse_snapshot(snap, str(core), None, detail=detail)
            return r, heap_table(r.heap)

    return run


def one(mib: int, tmp: Path) -> None:
    interp = unpack(tmp)["x86_64-pie"]
    gcore = shutil.which("gcore")
    assert gcore is not None, "gdb's gcore is needed"
    with running(interp, "fill", mib << 20, tmp) as run:
        truth = run.meminfo[run.meminfo.index("GC: total:") :]
        subprocess.run([gcore, "-o", str(tmp / "core"), str(run.pid)], capture_output=True,
                       check=True)  # fmt: skip
        core = tmp / f"core.{run.pid}"
    t_num, (r, text) = best(analysed(core, False))  # type: ignore[misc]
    assert text == truth, "the table differs from what MicroPython printed"
    t_obj, (rd, _) = best(analysed(core, True))  # type: ignore[misc]
    assert rd.objects is not None

    def svg() -> int:
        assert rd.objects is not None
        return len(heap_layout_svg(rd.heap, rd.objects, "bench"))

    t_svg, svg_len = best(svg)

    def html() -> int:
        # the command's --html: objects and graph, 1500 nodes through dot, the page
        r2, _ = analysed(core, True)()
        assert r2.objects is not None and r2.graph is not None
        dot_src = mpy_dot.heap_dot(r2.heap, r2.objects, r2.graph, r2.select(1500))
        svg_text = mpy_dot.render(dot_src, "svg").decode()
        return len(mpy_html.heap_page(r2.heap, r2.objects, r2.frag, "bench", svg_text))

    t_html, html_len = best(html, 1)
    print(f"{mib} MiB heap ({r.heap.info.total} B, {len(rd.objects)} allocations, "
          f"{r.heap.info.used} B used), core {core.stat().st_size} B:")  # fmt: skip
    print(f"  numbers + mem_info(1) table (open, locate, types, text): {t_num:.3f} s")
    print(f"  objects + ownership graph (same, plus every object and edge): {t_obj:.3f} s")
    print(f"  layout SVG ({svg_len} bytes): {t_svg:.3f} s")
    print(f"  HTML page, everything included ({html_len} bytes): {t_html:.3f} s")


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1, 8]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    for mib in sizes:
        one(mib, Path(tempfile.mkdtemp()))


if __name__ == "__main__":
    main()

"""memlens mpy on real unix-port MicroPython heaps (1 MiB and 8 MiB, 64-bit PIE),
dumped by gdb gcore while the interpreter waits right after printing
mem_info(1); every timed table is checked against that printout first.

Timed in-process (median (min-max) and best of --runs), after one warm-up run:
  numbers + table  open the core, locate the heap, types, the mem_info(1) text
  objects + graph  the same plus every object decoded and the ownership graph
  layout SVG       the picture of every allocation
  HTML page        what `memlens mpy CORE --html` does: open, analyse, pick 1500 graph
                   nodes, dot source, Graphviz dot (started at once, in a thread) while
                   the page is made; interleaved in each round with the page made as
                   before (all of a container's items at once, no not-drawn lines, tail
                   labels left to dot's external-label placer, dot run to the end before
                   the page), and `memlens mpy CORE --html` itself

usage: .venv/bin/python benchmarks/mpy_heap.py [--runs N] [heap sizes in MiB, default 1 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mpy.unixport import running, unpack  # noqa: E402

from memlens.mpy.graph import select_nodes  # noqa: E402
from memlens.mpy.session import HeapReport, analyse_snapshot  # noqa: E402
from memlens.render import mpy_dot, mpy_html  # noqa: E402
from memlens.render.mpy_svg import heap_layout_svg  # noqa: E402
from memlens.render.mpy_text import heap_table  # noqa: E402
from memlens.sources.options import OpenOptions  # noqa: E402
from memlens.targets import open_target  # noqa: E402

NODES = 1500  # the command's default --graph-nodes


def spread(times: list[float]) -> str:
    """median (min-max); the min is the best of the runs"""
    return f"{statistics.median(times):.3f} s ({min(times):.3f}-{max(times):.3f})"


def timed(fn: Callable[[], object], runs: int) -> tuple[list[float], object]:
    fn()  # warm-up: page cache, lazy imports
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def analysed(core: Path, detail: bool) -> Callable[[], tuple[HeapReport, str]]:
    def run() -> tuple[HeapReport, str]:
        with open_target(str(core), OpenOptions()) as snap:
            r = analyse_snapshot(snap, str(core), None, detail=detail)
            return r, heap_table(r.heap)

    return run


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def html_now(core: Path) -> tuple[dict[str, float], int]:
    """The page as the command makes it now; seconds per stage and the page's size."""
    t0 = time.perf_counter()
    r, _ = analysed(core, True)()
    assert r.objects is not None and r.graph is not None
    t1 = time.perf_counter()
    src = mpy_dot.heap_dot(r.heap, r.objects, r.graph, r.select(NODES))
    cpu = child_cpu()
    drawing = mpy_dot.render_soon(src, "svg")
    t2 = time.perf_counter()
    page = mpy_html.heap_page(r.heap, r.objects, r.frag, "bench",
                              lambda: drawing.result().decode())  # fmt: skip
    t3 = time.perf_counter()
    stages = {"analyse": t1 - t0, "graph source": t2 - t1, "page + dot": t3 - t2,
              "dot CPU": child_cpu() - cpu, "total": t3 - t0}  # fmt: skip
    return stages, len(page)


def html_before(core: Path) -> tuple[dict[str, float], int]:
    """The page as before: the nodes the roots reach first, all of a container's
    items at once (no fan-out passes), no not-drawn lines, tail labels placed by
    dot's external-label placer (no edge defaults), dot's full crossing
    minimisation, dot run to the end, then the page."""
    t0 = time.perf_counter()
    r, _ = analysed(core, True)()
    assert r.objects is not None and r.graph is not None
    n = len(r.objects)
    src = mpy_dot.heap_dot(r.heap, r.objects, r.graph, select_nodes(r.graph, n, NODES, n))
    src = src.replace(f"  edge [{mpy_dot.EDGE_LABELS}];\n", "")
    src = src.replace(f"  mclimit={mpy_dot.BIG_GRAPH_MCLIMIT};\n", "")
    src = re.sub(r'(\\n| )\+\d+ not drawn \(\d+ B\): [^"]*', "", src)
    cpu = child_cpu()
    svg = mpy_dot.render(src, "svg").decode()
    dot_cpu = child_cpu() - cpu
    page = mpy_html.heap_page(r.heap, r.objects, r.frag, "bench", svg)
    return {"dot CPU": dot_cpu, "total": time.perf_counter() - t0}, len(page)


def html_command(core: Path, out: Path) -> tuple[dict[str, float], int]:
    exe = Path(sys.executable).with_name("memlens")
    t0 = time.perf_counter()
    subprocess.run([str(exe), "mpy", str(core), "--html", str(out)], capture_output=True,
                   check=True)  # fmt: skip
    return {"total": time.perf_counter() - t0}, out.stat().st_size


def one(mib: int, tmp: Path, runs: int) -> None:
    interp = unpack(tmp)["x86_64-pie"]
    gcore = shutil.which("gcore")
    assert gcore is not None, "gdb's gcore is needed"
    with running(interp, "fill", mib << 20, tmp) as run:
        truth = run.meminfo[run.meminfo.index("GC: total:") :]
        subprocess.run([gcore, "-o", str(tmp / "core"), str(run.pid)], capture_output=True,
                       check=True)  # fmt: skip
        core = tmp / f"core.{run.pid}"
    t_num, (r, text) = timed(analysed(core, False), runs)  # type: ignore[misc]
    assert text == truth, "the table differs from what MicroPython printed"
    t_obj, (rd, _) = timed(analysed(core, True), runs)  # type: ignore[misc]
    assert rd.objects is not None

    def svg() -> int:
        assert rd.objects is not None
        return len(heap_layout_svg(rd.heap, rd.objects, "bench"))

    t_svg, svg_len = timed(svg, runs)
    print(f"{mib} MiB heap ({r.heap.info.total} B, {len(rd.objects)} allocations, "
          f"{r.heap.info.used} B used), core {core.stat().st_size} B:")  # fmt: skip
    print(f"  numbers + mem_info(1) table (open, locate, types, text): {spread(t_num)}")
    print(f"  objects + ownership graph (same, plus every object and edge): {spread(t_obj)}")
    print(f"  layout SVG ({svg_len} bytes): {spread(t_svg)}")
    kinds = {"now": lambda: html_now(core), "before": lambda: html_before(core),
             "command": lambda: html_command(core, tmp / "page.html")}  # fmt: skip
    seen: dict[str, dict[str, list[float]]] = {k: {} for k in kinds}
    size: dict[str, int] = {}
    html_now(core)  # warm-up
    for _ in range(runs):  # interleaved, so each round sees the same machine
        for kind, fn in kinds.items():
            stages, size[kind] = fn()
            for stage, s in stages.items():
                seen[kind].setdefault(stage, []).append(s)
    for kind, label in (("now", "HTML page now"), ("before", "HTML page as before"),
                        ("command", "`memlens mpy CORE --html` now")):  # fmt: skip
        print(f"  {label} ({size[kind]} bytes): {spread(seen[kind]['total'])}")
        for stage, times in seen[kind].items():
            if stage != "total":
                print(f"    {stage}: {spread(times)}")
    ratio = statistics.median(seen["now"]["total"]) / statistics.median(seen["before"]["total"])
    print(f"  now / before (medians): {ratio:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("sizes", type=int, nargs="*", default=[1, 8], help="heap sizes in MiB")
    args = ap.parse_args()
    dot = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=True).stderr
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, {dot.strip()}")  # fmt: skip
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[:3]}")
    for mib in args.sizes:
        one(mib, Path(tempfile.mkdtemp()), args.runs)


if __name__ == "__main__":
    main()

"""``memlens batch info`` over many minidumps, side by side in one run.

1. In-process cost per file: the ``info`` analysis of each file in a loop in
   this process (open, summarize, symbolize thread pcs) -- what ``memlens info``
   does after start-up.
2. ``run_batch`` with 1 worker (in this process) and with 2 worker processes on
   Dask's local scheduler: per-file cost (incl. Parquet writes and scheduling)
   and the speed-up from 1 to 2 workers.

Each configuration runs ``--runs`` times on a fresh output folder; figures are
median (min-max).  Usage: .venv/bin/python benchmarks/bench_batch.py [--files N] [--runs R]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from memlens.batch.inputs import content_key  # noqa: E402
from memlens.batch.scheduler import run_batch  # noqa: E402
from memlens.batch.tasks import analyse  # noqa: E402

SOURCES = ["minidump2.dmp", "linux_raise_sigabrt.dmp", "linux_inline.dmp",
           "tiny-exe-with-cet-xsave.dmp"]  # fmt: skip


def make_inputs(folder: Path, n: int) -> list[str]:
    data = [(ROOT / "tests/data/minidump" / s).read_bytes() for s in SOURCES]
    paths = []
    for i in range(n):
        p = folder / f"{i:05}.dmp"
        p.write_bytes(data[i % len(data)] + i.to_bytes(4, "little"))  # distinct content
        paths.append(str(p))
    return paths


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} s ({min(xs):.3f}-{max(xs):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        paths = make_inputs(folder, args.files)
        inproc, one, two = [], [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            for p in paths:
                analyse(p, "info", content_key(p))
            inproc.append(time.perf_counter() - t0)
            for workers, acc in ((1, one), (2, two)):
                out = Path(tmp) / f"out{workers}"
                shutil.rmtree(out, ignore_errors=True)
                t0 = time.perf_counter()
                result = run_batch("info", [str(folder)], str(out), workers=workers)
                acc.append(time.perf_counter() - t0)
                assert result.analysed == args.files and result.errors == 0
    n = args.files
    med = {name: statistics.median(xs) for name, xs in (("in", inproc), ("1", one), ("2", two))}
    print(f"{n} minidumps, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"in-process info analysis : {fmt(inproc)} = {med['in'] / n * 1e3:.2f} ms/file")
    print(f"batch, 1 worker          : {fmt(one)} = {med['1'] / n * 1e3:.2f} ms/file "
          f"({med['1'] / med['in']:.2f}x in-process)")  # fmt: skip
    print(f"batch, 2 worker processes: {fmt(two)} = {med['2'] / n * 1e3:.2f} ms/file")
    speedup = med["1"] / med["2"]
    print(f"speed-up 1 -> 2 workers  : {speedup:.2f}x ({speedup / 2:.2f} of linear)")

if __name__ == "__main__":
    main()

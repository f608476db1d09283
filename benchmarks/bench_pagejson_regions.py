#!/usr/bin/env python3
"""``memlens pages PID --json`` on a process of many small regions: this tree beside
another checkout of memlens (``--other SRC``, e.g. an export of main with its
extension built in place), commands interleaved in one run.

The target maps ``--regions`` separate 16 KiB anonymous regions (guard gaps
between them) and touches them, so per-region costs dominate the page objects.
Each command runs ``--runs`` times; wall time median and min-max, output to
/dev/null, the 1-minute load average before and after.

    .venv/bin/python benchmarks/bench_pagejson_regions.py --other /tmp/main/src
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGET = r"""
import mmap, sys
maps = []
for i in range(int(sys.argv[1])):
    m = mmap.mmap(-1, 5 * 4096)
    m[0:1] = b"x"; m[8192:8193] = b"y"
    maps.append(m)
print("ready", flush=True)
sys.stdin.read()
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=True)  # fmt: skip
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--other", required=True, help="the src folder of the other checkout")
    ap.add_argument("--regions", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    load = os.getloadavg()
    target = subprocess.Popen([sys.executable, "-c", TARGET, str(args.regions)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == b"ready"
        cmd = [sys.executable, "-m", "memlens", "pages", str(target.pid), "--json"]
        trees = {"this tree": str(ROOT / "src"), "other": args.other}
        times: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, src in trees.items():
                times[name].append(timed(cmd, {**os.environ, "PYTHONPATH": src}))
    finally:
        target.kill()
        target.wait()
    after = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, {args.regions} regions, {args.runs} runs, "
          f"load average {load[0]:.2f} before, {after[0]:.2f} after\n")  # fmt: skip
    print("| tree | median s | min-max s |")
    print("|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t):.3f} | {min(t):.3f}-{max(t):.3f} |")
    ratio = statistics.median(times["this tree"]) / statistics.median(times["other"])
    print(f"\nratio this/other: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

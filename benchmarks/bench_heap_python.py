"""memlens run vs memray on Python workloads, side by side in one run (issue 11).

Each workload prints its own peak RSS (``ru_maxrss``) at the end, so the
figure is the program's, tracer included (memray works inside the process,
memlens's shim too; memlens's parent process is not counted).  Wall time is
the whole command's.  Rounds interleave the tools; min and median.

Usage: .venv/bin/python benchmarks/bench_heap_python.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {
    # Many small objects: dicts and strings, kept, then dropped.
    "objects": (
        "rows = [{'id': i, 'name': str(i) * 3, 'tags': [i, i + 1]} for i in range(300000)]\n"
        "total = sum(len(r['name']) for r in rows)\n"
        "del rows\n"
    ),
    # Churn: short-lived buffers, a few large ones.
    "churn": (
        "keep = []\n"
        "for i in range(200000):\n"
        "    b = bytearray(100 + i % 900)\n"
        "    if i % 1000 == 0:\n"
        "        keep.append(bytearray(1 << 20))\n"
    ),
}
TAIL = "import resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"


def run(argv: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    return wall, int(done.stdout.strip().splitlines()[-1])  # KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    py = sys.executable
    memlens = str(Path(py).with_name("memlens"))
    memray = shutil.which("memray") or str(Path(py).with_name("memray"))
    with tempfile.TemporaryDirectory(prefix="memlens-pybench-") as tmp:
        work = Path(tmp)
        for name, body in WORKLOADS.items():
            script = work / f"{name}.py"
            script.write_text(body + TAIL)
            tools: dict[str, list[str]] = {
                "plain": [py, str(script)],
                "memlens run (exact)": [memlens, "run", "-q", "--out", str(work / "ml"), "--",
                                        py, str(script)],
                "memlens run --sample 512K": [memlens, "run", "-q", "--sample", "524288", "--out",
                                              str(work / "mls"), "--", py, str(script)],
            }  # fmt: skip
            if os.path.exists(memray):
                tools["memray run"] = [memray, "run", "-q", "-f", "-o", str(work / "m.bin"),
                                       str(script)]  # fmt: skip
                tools["memray run --native"] = [memray, "run", "-q", "--native", "-f", "-o",
                                                str(work / "mn.bin"), str(script)]  # fmt: skip
            walls: dict[str, list[float]] = {k: [] for k in tools}
            rss: dict[str, list[int]] = {k: [] for k in tools}
            for _ in range(args.runs):
                for tool, argv in tools.items():
                    w, r = run(argv)
                    walls[tool].append(w)
                    rss[tool].append(r)
                    for d in ("ml", "mls"):
                        shutil.rmtree(work / d, ignore_errors=True)
            base = statistics.median(walls["plain"])
            print(f"\nworkload {name!r} ({args.runs} interleaved rounds)")
            print(f"  {'tool':28} {'min s':>7} {'median s':>9} {'x plain':>8} {'peak RSS':>10}")
            for tool in tools:
                ws, med = walls[tool], statistics.median(walls[tool])
                print(f"  {tool:28} {min(ws):7.3f} {med:9.3f} {med / base:8.2f} "
                      f"{max(rss[tool]) / 1024:8.1f} MB")  # fmt: skip
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()

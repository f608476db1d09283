#!/usr/bin/env python3
"""Issue 2 speed goals, measured side by side in one run.

1. Full per-page output of a process holding 512 MiB resident, to /dev/null:
   ``memlens pages PID`` against one-read-per-page walks -- a Go model of
   ptexplore (8-byte ReadAt per page and per kpage* entry, unbuffered
   fmt.Printf per field) and a C version of the same walk with buffered
   stdio (the fastest form of the one-pread-per-page approach).
2. ``memlens pages PID --summary`` against the raw floor: a C program that
   does only the bulk reads (one pagemap pread per mapping, kpageflags in
   runs of nearby PFNs).  Also the in-process time of memlens's
   open + scan + summarize, without interpreter start-up.

Every program runs ``--runs`` times, interleaved; wall time (min / median)
and CPU time (user+sys, min) are reported.  Needs root (kpage* files), gcc;
go for the ptexplore model (skipped without it).

    sudo .venv/bin/python benchmarks/bench_pages.py [--mib 512] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEMLENS = [str(ROOT / ".venv" / "bin" / "memlens")]

IN_PROCESS = """
import sys, time
t0 = time.perf_counter()
import memlens
from memlens.analyses.pages import scan, summarize
t1 = time.perf_counter()
with memlens.open(int(sys.argv[1])) as snap:
    summary = summarize(scan(snap, snap.regions, counts=False), snap.page_size)
t2 = time.perf_counter()
print(f"{t2 - t1:.6f} {t1 - t0:.6f}")
"""


def build(tmp: Path) -> dict[str, list[str]]:
    progs: dict[str, list[str]] = {}
    for name in ("pread_per_page", "bulk_floor", "hold"):
        out = tmp / name
        subprocess.run(["gcc", "-O2", "-o", str(out), str(HERE / f"{name}.c")], check=True)
        progs[name] = [str(out)]
    if shutil.which("go"):
        out = tmp / "ptmodel"
        env = {**os.environ, "GO111MODULE": "off", "GOCACHE": str(tmp / "gocache")}
        subprocess.run(["go", "build", "-o", str(out), str(HERE / "ptmodel" / "main.go")],
                       check=True, env=env)  # fmt: skip
        progs["ptmodel"] = [str(out)]
    return progs


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, user+sys CPU seconds) of one run, output to /dev/null."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root: /proc/kpageflags and PFNs", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmpdir:
        progs = build(Path(tmpdir))
        hold = subprocess.Popen([*progs["hold"], str(args.mib)], stdout=subprocess.PIPE)
        try:
            assert hold.stdout is not None and hold.stdout.readline().strip() == b"ready"
            pid = str(hold.pid)
            with open(f"/proc/{pid}/status") as f:
                rss = next(line.split()[1] for line in f if line.startswith("VmRSS"))
            pages = int(subprocess.run([*progs["bulk_floor"], pid], capture_output=True,
                                       check=True).stdout)  # fmt: skip
            cases = {
                "memlens pages PID": [*MEMLENS, "pages", pid],
                "C one-pread-per-page, buffered": [*progs["pread_per_page"], pid],
                "memlens pages PID --summary": [*MEMLENS, "pages", pid, "--summary"],
                "C raw floor (bulk reads only)": [*progs["bulk_floor"], pid],
            }
            if "ptmodel" in progs:
                cases["Go ptexplore model"] = [*progs["ptmodel"], pid]
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
            inproc: list[float] = []
            for _ in range(args.runs):
                for name, cmd in cases.items():
                    results[name].append(timed(cmd))
                out = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", IN_PROCESS, pid],
                                     capture_output=True, text=True, check=True).stdout  # fmt: skip
                inproc.append(float(out.split()[0]))
        finally:
            hold.kill()
            hold.wait()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"target: {args.mib} MiB held, VmRSS {rss} kB, {pages} present pages; "
          f"{args.runs} runs each, interleaved\n")  # fmt: skip
    print(f"{'program':34} {'wall min':>9} {'wall med':>9} {'cpu min':>9}")
    best: dict[str, tuple[float, float]] = {}
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        best[name] = (min(walls), min(cpus))
        print(f"{name:34} {min(walls):9.3f} {statistics.median(walls):9.3f} {min(cpus):9.3f}")
    print(f"{'memlens summary, in-process':34} {min(inproc):9.3f} {statistics.median(inproc):9.3f}")
    ml = best["memlens pages PID"]
    print()
    if "Go ptexplore model" in best:
        go = best["Go ptexplore model"]
        print(f"per-page output: memlens is {go[0] / ml[0]:.1f}x faster than the Go ptexplore "
              "model "
              f"(wall), {go[1] / ml[1]:.1f}x (cpu)")  # fmt: skip
    c = best["C one-pread-per-page, buffered"]
    print(f"per-page output: memlens vs buffered C one-pread-per-page: {c[0] / ml[0]:.2f}x (wall), "
          f"{c[1] / ml[1]:.2f}x (cpu)")  # fmt: skip
    floor = best["C raw floor (bulk reads only)"]
    summ = best["memlens pages PID --summary"]
    print(f"--summary: {summ[0] / floor[0]:.1f}x the raw floor (wall, CLI incl. start-up); "
          f"in-process {min(inproc) / floor[0]:.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

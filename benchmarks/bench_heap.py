"""Heap profiler speed, side by side in one run (issue 5; figures in BENCHMARKS.md).

1. ``mallocbench`` (2 threads x 1M alloc/free, call depth 10, 1024 live):
   plain, heaptrack, memlens exact (each unwinder) and sampled (512 KiB).
   Goals (issue 11): exact <= 0.4x heaptrack's wall time, sampled <= 1.2x plain.
   Then the shim's fixed start-up + exit cost alone (``mallocbench 2 1``) and
   the timeline's cost under ``memlens run`` (10 ms vs off; goal <= 2%).
2. ``memlens heap CORE`` on a gdb core of ~1 GiB holding 1M live blocks
   (scan + group + symbolize + text report).  Goal: <= 3 s.  Twice: exact
   mode (1M full records) and sampled 512 KiB (nearly all compact records),
   with the record scan alone timed in-process (goal >= 1 GiB/s).

Usage: .venv/bin/python benchmarks/bench_heap.py [--runs N] [--skip-core] [--skip-malloc]
       [--skip-fixed] [--skip-timeline] [--attribution]
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

import numpy as np

from memlens import open as memlens_open
from memlens.heap.records import FLAG_STACK, scan_parts, scan_ranges, scan_space
from memlens.heap.runner import RunOptions, run_under_shim, shim_path

HERE = Path(__file__).resolve().parent

BIG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#define N 1000000
static void *keep[N];
__attribute__((noinline)) void *rows(size_t n) { return malloc(n); }
__attribute__((noinline)) void *blobs(size_t n) { return malloc(n); }
int main(void) {
    unsigned x = 1;
    for (int i = 0; i < N; ++i) {
        x = x * 1103515245u + 12345u;
        size_t n = 600 + (x >> 8) % 800;           /* ~1000 B average: ~1 GiB */
        keep[i] = (i % 4) ? rows(n) : blobs(n);
        ((char *)keep[i])[0] = 1;
    }
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
"""


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    return timed_cpu(argv, env)[0]


def timed_cpu(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the command and everything it waited
    for: heaptrack's interpreter process too).  On a loaded machine CPU time is the steadier
    measure; wall time includes waiting for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def build_variants(work: Path) -> tuple[str, str]:
    """The LD_PRELOAD floor and the shim with its compact record padded to 64 bytes."""
    floor = work / "preload_floor.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(floor),
                    str(HERE / "preload_floor.c"), "-ldl"], check=True)  # fmt: skip
    pad64 = work / "shim_pad64.so"
    shim_dir = HERE.parent / "src" / "memlens" / "shim"
    sources = [str(shim_dir / f) for f in ("memlens_shim.c", "pyframes.c")]
    flags = ["-O2", "-g", "-std=gnu11", "-fvisibility=hidden", "-fno-omit-frame-pointer"]
    subprocess.run(["gcc", *flags, "-DML_COMPACT_BYTES=64", "-shared", "-fPIC", "-o", str(pad64),
                    *sources, "-ldl", "-lm", "-lpthread"], check=True)  # fmt: skip
    return str(floor), str(pad64)


def bench_malloc(runs: int, work: Path, attribution: bool) -> None:
    exe = work / "mallocbench"
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", str(exe), str(HERE / "mallocbench.c")],
                   check=True)  # fmt: skip
    fp_exe = work / "mallocbench-fp"
    subprocess.run(["gcc", "-O2", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", str(fp_exe),
                    str(HERE / "mallocbench.c")], check=True)  # fmt: skip
    shim = shim_path()
    stats_dir = work / "stats"
    stats_dir.mkdir(exist_ok=True)

    def env(**kv: str) -> dict[str, str]:
        e = dict(os.environ, LD_PRELOAD=shim)
        e.update(kv)
        return e

    configs: list[tuple[str, list[str], dict[str, str] | None]] = [("plain", [str(exe)], None)]
    heaptrack = shutil.which("heaptrack")
    if heaptrack:
        configs.append(("heaptrack", [heaptrack, "-o", str(work / "ht"), str(exe)], None))
    configs += [
        ("memlens exact (libunwind)", [str(exe)], env()),
        ("memlens exact, table in a file", [str(exe)], env(MEMLENS_STATS_DIR=str(stats_dir))),
        ("memlens exact (libgcc)", [str(exe)], env(MEMLENS_UNWIND="gcc")),
        ("memlens sampled 512 KiB", [str(exe)], env(MEMLENS_SAMPLE="524288")),
        ("memlens no stacks (unwind=none)", [str(exe)], env(MEMLENS_UNWIND="none")),
        ("plain, frame-pointer build", [str(fp_exe)], None),
        ("memlens exact fp, fp build", [str(fp_exe)], env(MEMLENS_UNWIND="fp")),
    ]
    if attribution:  # where sampled mode's cost goes
        floor, pad64 = build_variants(work)
        configs += [
            ("LD_PRELOAD floor (no record)", [str(exe)], dict(os.environ, LD_PRELOAD=floor)),
            ("sampled, compact padded to 64 B", [str(exe)],
             dict(os.environ, LD_PRELOAD=pad64, MEMLENS_SAMPLE="524288")),
        ]  # fmt: skip
    # Rounds interleave the configurations so that load from elsewhere on the
    # machine hits them alike; min and median per configuration.
    times: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    for _ in range(runs):
        for name, argv, e in configs:
            wall, cpu = timed_cpu(argv, e)
            times[name].append(wall)
            cpus[name].append(cpu)
    plain = min(times["plain"])
    plain_med = statistics.median(times["plain"])
    ht = min(times["heaptrack"]) if heaptrack else None
    print(f"\nmallocbench: 2 threads x 1M alloc/free, depth 10 ({runs} interleaved rounds)")
    print(f"{'run':31} {'min s':>7} {'median s':>9} {'x plain':>8} {'(median)':>9} "
          f"{'x heaptrack':>12}")  # fmt: skip
    for name, ts in times.items():
        t, med = min(ts), statistics.median(ts)
        vs_ht = f"{t / ht:12.2f}" if ht else f"{'-':>12}"
        print(f"{name:31} {t:7.3f} {med:9.3f} {t / plain:8.2f} {med / plain_med:9.2f} {vs_ht}")
    cpu_plain = statistics.median(cpus["plain"])
    cpu_ht = statistics.median(cpus["heaptrack"]) if heaptrack else None
    print(f"\nCPU seconds (user + system, median of {runs})")
    print(f"{'run':31} {'CPU s':>7} {'x plain':>8} {'x heaptrack':>12}")
    for name, cs in cpus.items():
        c = statistics.median(cs)
        vs_ht = f"{c / cpu_ht:12.2f}" if cpu_ht else f"{'-':>12}"
        print(f"{name:31} {c:7.3f} {c / cpu_plain:8.2f} {vs_ht}")


def bench_fixed(runs: int, work: Path) -> None:
    """The shim's fixed start-up and exit cost: ``mallocbench 2 1`` (one allocation per
    thread), plain and under the shim, interleaved; median wall and CPU of each."""
    exe = work / "mallocbench"
    if not exe.exists():
        subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", str(exe),
                        str(HERE / "mallocbench.c")], check=True)  # fmt: skip
    shim = shim_path()
    configs: list[tuple[str, dict[str, str] | None]] = [
        ("plain", None),
        ("memlens sampled 512 KiB", dict(os.environ, LD_PRELOAD=shim, MEMLENS_SAMPLE="524288")),
        ("memlens exact", dict(os.environ, LD_PRELOAD=shim)),
    ]
    rounds = runs * 10
    walls: dict[str, list[float]] = {name: [] for name, _ in configs}
    cpus: dict[str, list[float]] = {name: [] for name, _ in configs}
    for _ in range(rounds):
        for name, e in configs:
            wall, cpu = timed_cpu([str(exe), "2", "1"], e)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"\nfixed cost: mallocbench 2 1 (one allocation per thread), {rounds} interleaved rounds")
    print(f"{'run':31} {'wall med ms':>12} {'CPU med ms':>11}")
    for name, _ in configs:
        print(f"{name:31} {1e3 * statistics.median(walls[name]):12.2f} "
              f"{1e3 * statistics.median(cpus[name]):11.2f}")  # fmt: skip


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def bench_timeline(runs: int, work: Path) -> None:
    """The program's wall time under ``memlens run`` with the timeline at 10 ms vs (nearly) off,
    and the CPU memlens itself spent meanwhile (it competes with the program for the cores).

    In process (``run_under_shim``): the runtime is from the program's start to
    its exit, so memlens's own start-up and report are not in it.
    """
    exe = work / "mallocbench"
    if not exe.exists():
        subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", str(exe),
                        str(HERE / "mallocbench.c")], check=True)  # fmt: skip
    intervals = {"10 ms": 0.01, "off (1000 s)": 1000.0}
    for mode, sample in (("exact", 0), ("sampled 512 KiB", 524288)):
        times: dict[str, list[float]] = {name: [] for name in intervals}
        mine: dict[str, list[float]] = {name: [] for name in intervals}
        prog: dict[str, list[float]] = {name: [] for name in intervals}
        samples = 0
        for i in range(runs):
            for name, interval in intervals.items():
                out = work / f"timeline-{i}-{interval}"
                opts = RunOptions(out_dir=str(out), interval=interval, sample=sample)
                self0, child0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
                result = run_under_shim([str(exe)], opts)
                mine[name].append(_cpu(resource.RUSAGE_SELF) - self0)
                prog[name].append(_cpu(resource.RUSAGE_CHILDREN) - child0)
                if interval < 1 and result.main is not None:
                    samples = len(result.main.timeline.samples)
                result.close()
                shutil.rmtree(out)
                times[name].append(result.runtime)
        on, off = (statistics.median(times[k]) for k in intervals)
        on_min, off_min = (min(times[k]) for k in intervals)
        print(f"\ntimeline cost, mallocbench under memlens run ({mode}, {runs} rounds; "
              f"{samples} samples in the last 10 ms run)")  # fmt: skip
        for name, ts in times.items():
            print(f"  interval {name:13} min {min(ts):.3f} s  median {statistics.median(ts):.3f} s"
                  f"  program CPU {statistics.median(prog[name]):.3f} s"
                  f"  memlens CPU {statistics.median(mine[name]):.3f} s")  # fmt: skip
        extra = statistics.median(mine["10 ms"]) - statistics.median(mine["off (1000 s)"])
        print(f"  timeline at 10 ms: {100 * (on / off - 1):+.1f}% by median, "
              f"{100 * (on_min / off_min - 1):+.1f}% by min; memlens's own CPU for it "
              f"{1e3 * extra:+.1f} ms = {100 * extra / on:.1f}% of one core")  # fmt: skip


def bench_core(work: Path, sample: str | None) -> None:
    src = work / "big.c"
    src.write_text(BIG)
    exe = work / "big"
    subprocess.run(["gcc", "-O1", "-g", "-o", str(exe), str(src)], check=True)
    env = dict(os.environ, LD_PRELOAD=shim_path())
    if sample:
        env["MEMLENS_SAMPLE"] = sample
    proc = subprocess.Popen([str(exe)], env=env, stdout=subprocess.PIPE)
    core = work / "big.core"
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        subprocess.run(["gdb", "-p", str(proc.pid), "-batch", "-ex", f"gcore {core}"],
                       check=True, capture_output=True)  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    memlens = str(Path(sys.executable).with_name("memlens"))
    argv = [memlens, "heap", str(core), "--top", "10"]
    # As installed for users: byte-code caching on (this machine's shell sets
    # PYTHONDONTWRITEBYTECODE, which recompiles every module on every start).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    t = min(timed(argv, env) for _ in range(3))
    gib = core.stat().st_size / 2**30
    mode = f"sampled {int(sample) // 1024} KiB" if sample else "exact"
    print(f"\nmemlens heap on a {gib:.2f} GiB gdb core ({mode}): best of 3 {t:.2f} s")
    print("  " + out.splitlines()[0])
    # The record scan alone (both formats; not joining the chunks or interning
    # stacks), in this process, over the core's writable saved ranges; best of
    # 3 once the core's pages are cached.
    with memlens_open(str(core)) as snap:
        scanned = sum(hi - lo for lo, hi in scan_ranges(snap.space))
        best, found = float("inf"), 0
        for _ in range(3):
            t0 = time.perf_counter()
            parts, _ = scan_parts(snap.space)
            best = min(best, time.perf_counter() - t0)
            found = sum(len(p["address"]) for p in parts)
        blocks, _ = scan_space(snap.space)
        full = int(((blocks.flags & np.uint64(FLAG_STACK)) != 0).sum())
    print(f"  record scan: {scanned / 2**30:.2f} GiB in {best:.3f} s = "
          f"{scanned / best / 2**30:.2f} GiB/s; {found} blocks, {full} with a stack, "
          f"{found - full} without")  # fmt: skip
    core.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-core", action="store_true")
    ap.add_argument("--skip-malloc", action="store_true")
    ap.add_argument("--skip-timeline", action="store_true")
    ap.add_argument("--skip-fixed", action="store_true")
    ap.add_argument("--attribution", action="store_true",
                    help="also: pass-through LD_PRELOAD; 64-byte compact record")  # fmt: skip
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="memlens-bench-") as tmp:
        if not args.skip_malloc:
            bench_malloc(args.runs, Path(tmp), args.attribution)
        if not args.skip_fixed:
            bench_fixed(args.runs, Path(tmp))
        if not args.skip_timeline:
            bench_timeline(args.runs, Path(tmp))
        if not args.skip_core:
            bench_core(Path(tmp), None)
            bench_core(Path(tmp), "524288")
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()

"""glibc walk + reachability speed (issue 16; figures in BENCHMARKS.md).

A program allocates N blocks (24-136 bytes, ~1 GiB at N = 10M) into a hash
table of N/10 chains, loses every 100th block in a lost list, frees every
50th, then waits.  gdb writes a core; ``memlens leaks CORE --format json`` runs
in a child process whose wall time and peak RSS are measured.  Goal at
N = 10M: <= 10 s and <= 2 GB.  For comparison the same program runs under
valgrind memcheck (at --valgrind-n blocks; it reports at the same point) and
natively, so valgrind's slowdown is printed beside memlens's cost.

Usage: .venv/bin/python benchmarks/bench_glibc.py [--n 10000000] [--valgrind-n 1000000]
       [--runs 2] [--skip-valgrind]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = r"""
#include <stdlib.h>
#include <unistd.h>
#include <valgrind/memcheck.h>
struct node { struct node *next; long key; };
static struct node *volatile lost;
__attribute__((noinline)) static void lose(struct node *p) { p->next = lost; lost = p; }
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    long nb = n / 10 + 1;
    struct node **table = calloc((size_t)nb, sizeof *table);
    for (long i = 0; i < n; i++) {
        struct node *p = malloc(24 + (size_t)(i % 10) * 16);
        p->key = i;
        if (i % 50 == 7) { free(p); continue; }
        if (i % 100 == 3) { lose(p); continue; }
        long h = (i * 2654435761L) % nb;
        p->next = table[h];
        table[h] = p;
    }
    lost = NULL;
    VALGRIND_DO_LEAK_CHECK;
    if (write(1, "ready\n", 6) != 6) return 3;
    char c[8];
    if (read(0, c, sizeof c) < 0) return 4;
    return table == NULL;
}
"""

CHILD = r"""
import json, resource, sys, time
t = time.perf_counter()
from memlens.glibc.leakreport import leak_report
from memlens.targets import open_target
with open_target(sys.argv[1]) as snap:
    t1 = time.perf_counter()
    r = leak_report(snap)
t2 = time.perf_counter()
cpu = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"open": t1 - t, "walk_reach": t2 - t1, "cpu": cpu.ru_utime + cpu.ru_stime,
                  "chunks": len(r.walk.chunks), "summary": r.summary, "complete": r.walk.complete,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def build(tmp: Path) -> Path:
    src = tmp / "bench.c"
    src.write_text(PROGRAM)
    exe = tmp / "bench"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def native(exe: Path, n: int, core: Path | None) -> float:
    """Seconds from start to the check point; writes a gdb core there when asked."""
    t = time.perf_counter()
    proc = subprocess.Popen([str(exe), str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    took = time.perf_counter() - t
    if core is not None:
        subprocess.run(["gdb", "-nx", "-batch", "-p", str(proc.pid), "-ex", f"gcore {core}"],
                       capture_output=True, check=True)  # fmt: skip
    proc.kill()
    proc.wait()
    return took


def under_valgrind(exe: Path, n: int) -> tuple[float, str]:
    t = time.perf_counter()
    run = subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all", str(exe),
                          str(n)], input=b"", capture_output=True)  # fmt: skip
    took = time.perf_counter() - t
    text = run.stderr.decode()
    i = text.find("LEAK SUMMARY")
    lines = [ln.split("== ", 1)[-1] for ln in text[i:].splitlines()[1:5]]
    return took, "; ".join(s.strip() for s in lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--valgrind-n", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--skip-valgrind", action="store_true")
    args = ap.parse_args()
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}, python {platform.python_version()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-glibc-") as d:
        tmp = Path(d)
        exe = build(tmp)
        core = tmp / "core"
        took = native(exe, args.n, core)
        print(f"program, {args.n:,} blocks: {took:.2f} s to the check point; core "
              f"{core.stat().st_size / 2**30:.2f} GiB")  # fmt: skip
        best = None
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, "-c", CHILD, str(core)], capture_output=True,
                                 check=True, text=True)  # fmt: skip
            r = json.loads(out.stdout)
            if best is None or r["walk_reach"] < best["walk_reach"]:
                best = r
        assert best is not None
        print(f"memlens walk + reachability: best of {args.runs} {best['walk_reach']:.2f} s"
              f" (open {best['open']:.2f} s; CPU {best['cpu']:.2f} s),"
              f" peak RSS {best['maxrss_kib'] / 2**20:.2f} GiB,"
              f" {best['chunks']:,} chunks, complete={best['complete']}")  # fmt: skip
        summary = best["summary"].items()
        print("  " + "; ".join(f"{k}: {b:,} blocks {n:,} B" for k, (b, n) in summary))
        if not args.skip_valgrind and shutil.which("valgrind"):
            n = args.valgrind_n
            plain = native(exe, n, None)
            vg, summary = under_valgrind(exe, n)
            print(f"valgrind memcheck, {n:,} blocks: {vg:.2f} s to exit vs {plain:.2f} s"
                  f" native to the check point ({vg / plain:.0f}x)")  # fmt: skip
            print(f"  {summary}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"largest child RSS {peak / 2**20:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

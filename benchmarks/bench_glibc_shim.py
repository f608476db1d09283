"""Leaks with allocation stacks: memlens on a core of a shim-run program vs valgrind (issue 16).

bench_glibc.py's program (N blocks of 24-168 bytes in a hash table, every
100th lost, every 50th freed) runs to its check point three ways, once each:
natively, natively under memlens's shim (exact mode: a stack per block), and
-- in every round -- under valgrind memcheck, which prints its leak check
there.  gdb writes a core of the first two at the check point.  Each round
then times, interleaved: ``leak_report`` of the plain core, ``leak_report``
of the shim core (the records laid on the chunks, groups by stack), and the
whole valgrind run (its leak check is the only way it answers).  Figures are
median (min-max) over the rounds; the 1-minute load average is printed at the
start.  The classes of each must agree (printed once).

Usage: .venv/bin/python benchmarks/bench_glibc_shim.py [--n 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_glibc import PROGRAM, under_valgrind

CHILD = r"""
import json, resource, sys, time
from memlens.glibc.leakreport import leak_report
from memlens.targets import open_target
t = time.perf_counter()
with open_target(sys.argv[1]) as snap:
    r = leak_report(snap)
took = time.perf_counter() - t
print(json.dumps({"seconds": took, "summary": r.summary, "groups": len(r.groups),
                  "stacks": sum(1 for g in r.groups if g.stack),
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def build(tmp: Path) -> Path:
    src = tmp / "bench.c"
    src.write_text(PROGRAM)
    exe = tmp / "bench"
    subprocess.run(["gcc", "-O2", "-g", "-o", str(exe), str(src)], check=True)
    return exe


def to_check_point(exe: Path, n: int, core: Path, env: dict[str, str]) -> float:
    """Seconds from start to the check point; a gdb core is written there."""
    t = time.perf_counter()
    proc = subprocess.Popen([str(exe), str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, **env})  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()
    took = time.perf_counter() - t
    subprocess.run(["gdb", "-nx", "-batch", "-p", str(proc.pid), "-ex", f"gcore {core}"],
                   capture_output=True, check=True)  # fmt: skip
    proc.kill()
    proc.wait()
    return took


def leaks(core: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(core)], capture_output=True,
                         check=True, text=True)  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout)
    return result


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from memlens.heap.runner import shim_path

    print(f"load average at start {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, "
          f"{args.n:,} blocks, {args.rounds} rounds")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-glibc-shim-") as d:
        tmp = Path(d)
        exe = build(tmp)
        plain_core, shim_core = tmp / "plain.core", tmp / "shim.core"
        native = to_check_point(exe, args.n, plain_core, {})
        shimmed = to_check_point(exe, args.n, shim_core, {"LD_PRELOAD": shim_path()})
        print(f"program to its check point: native {native:.2f} s, under the shim "
              f"{shimmed:.2f} s; cores {plain_core.stat().st_size / 2**20:.0f} MiB and "
              f"{shim_core.stat().st_size / 2**20:.0f} MiB")  # fmt: skip
        plain_s: list[float] = []
        shim_s: list[float] = []
        vg_s: list[float] = []
        first: dict[str, object] = {}
        for _ in range(args.rounds):
            p = leaks(plain_core)
            s = leaks(shim_core)
            vg, vg_summary = under_valgrind(exe, args.n)
            plain_s.append(float(p["seconds"]))  # type: ignore[arg-type]
            shim_s.append(float(s["seconds"]))  # type: ignore[arg-type]
            vg_s.append(vg)
            first = first or {"plain": p, "shim": s, "valgrind": vg_summary}
        print(f"memlens leaks, plain core       : {fmt(plain_s)}, peak RSS "
              f"{int(first['plain']['maxrss_kib']) / 2**20:.2f} GiB")  # type: ignore[index]
        print(f"memlens leaks, shim core (stacks): {fmt(shim_s)}, peak RSS "
              f"{int(first['shim']['maxrss_kib']) / 2**20:.2f} GiB, "  # type: ignore[index]
              f"{first['shim']['stacks']} of {first['shim']['groups']} groups with a stack")  # type: ignore[index]
        print(f"valgrind memcheck, whole run    : {fmt(vg_s)}")
        vg_m, shim_m, plain_m = (statistics.median(v) for v in (vg_s, shim_s, plain_s))
        print(f"ratio valgrind / memlens (shim core), medians: {vg_m / shim_m:.1f}x; "
              f"shim core / plain core: {shim_m / plain_m:.2f}x")
        for name in ("plain", "shim"):
            summary = first[name]["summary"]  # type: ignore[index]
            print(f"  {name:5}: " + "; ".join(f"{k}: {b:,} blocks {n:,} B"
                                               for k, (b, n) in summary.items()))  # fmt: skip
        print(f"  valgrind: {first['valgrind']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

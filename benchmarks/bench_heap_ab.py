"""Sampled mode's cost, this shim against another revision's, in one interleaved run.

Builds ``mallocbench`` and, from git, the shim of ``--ref`` (default ``main``);
then runs, round after round: plain, a pass-through LD_PRELOAD (the floor of
any shim, ``preload_floor.c``), the reference shim, this shim, and this shim
with its compact record padded to 64 bytes -- each shim with
``MEMLENS_SAMPLE=524288``.  Prints wall and CPU (user + sys of the process)
medians over plain.  Figures in BENCHMARKS.md (heap section, record format 2).

Usage: .venv/bin/python benchmarks/bench_heap_ab.py [--runs N] [--ref REV]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIM_DIR = HERE.parent / "src" / "memlens" / "shim"
SHIM_FILES = ("memlens_shim.c", "pyframes.c", "pyframes.h")  # a revision may lack the last two
CFLAGS = ["-O2", "-g", "-std=gnu11", "-fvisibility=hidden", "-fno-omit-frame-pointer"]


def shim(src: Path, out: Path, *defines: str) -> str:
    """Build the shim whose sources are in the folder ``src``."""
    sources = [str(src / f) for f in SHIM_FILES if f.endswith(".c") and (src / f).exists()]
    subprocess.run(["gcc", *CFLAGS, *defines, "-shared", "-fPIC", "-o", str(out), *sources,
                    "-ldl", "-lm", "-lpthread"], check=True)  # fmt: skip
    return str(out)


def sources_at(ref: str, into: Path) -> Path:
    """The shim's ``.c`` and ``.h`` files at git revision ``ref``, written into ``into``."""
    into.mkdir()
    git = ["git", "-C", str(HERE)]
    tree = f"{ref}:src/memlens/shim"
    listed = subprocess.run([*git, "ls-tree", "--full-tree", "--name-only", tree],
                            capture_output=True, text=True)  # fmt: skip
    for name in listed.stdout.split():
        if name.endswith((".c", ".h")):
            shown = subprocess.run([*git, "show", f"{ref}:src/memlens/shim/{name}"],
                                   capture_output=True, check=True)  # fmt: skip
            (into / name).write_bytes(shown.stdout)
    if not (into / SHIM_FILES[0]).exists():
        raise SystemExit(f"no src/memlens/shim/{SHIM_FILES[0]} at {ref}")
    return into


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status:
        raise SystemExit(f"{argv[0]} failed: status {status}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--ref", default="main", help="git revision of the reference shim")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="memlens-ab-") as tmp:
        work = Path(tmp)
        exe = work / "mallocbench"
        subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", str(exe),
                        str(HERE / "mallocbench.c")], check=True)  # fmt: skip
        ref_c = sources_at(args.ref, work / "ref")
        floor = work / "floor.so"
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(floor),
                        str(HERE / "preload_floor.c"), "-ldl"], check=True)  # fmt: skip
        sample = {"MEMLENS_SAMPLE": "524288"}
        configs = [
            ("plain", {}),
            ("LD_PRELOAD pass-through (floor)", {"LD_PRELOAD": str(floor)}),
            (f"shim of {args.ref}", {"LD_PRELOAD": shim(ref_c, work / "ref.so"), **sample}),
            ("this shim", {"LD_PRELOAD": shim(SHIM_DIR, work / "this.so"), **sample}),
            ("this shim, compact record 64 B",
             {"LD_PRELOAD": shim(SHIM_DIR, work / "pad64.so", "-DML_COMPACT_BYTES=64"), **sample}),
        ]  # fmt: skip
        print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in configs}
        for _ in range(args.runs):
            for name, extra in configs:
                times[name].append(run([str(exe)], dict(os.environ, **extra)))
    base_wall = statistics.median(w for w, _ in times["plain"])
    base_cpu = statistics.median(c for _, c in times["plain"])
    print(f"mallocbench, {args.runs} interleaved rounds; shims with MEMLENS_SAMPLE=524288")
    print(f"{'run':34} {'wall min':>9} {'median':>8} {'x plain':>8} {'CPU med':>8} {'x plain':>8}")
    for name, ts in times.items():
        wall = statistics.median(w for w, _ in ts)
        cpu = statistics.median(c for _, c in ts)
        print(f"{name:34} {min(w for w, _ in ts) * 1e3:7.1f}ms {wall * 1e3:6.1f}ms "
              f"{wall / base_wall:8.2f} {cpu * 1e3:6.1f}ms {cpu / base_cpu:8.2f}")  # fmt: skip
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()

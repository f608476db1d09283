#!/usr/bin/env python3
"""Start-up of the memlens command (issue 10: ``--help`` and ``--version`` <= 80 ms).

Runs, interleaved, ``--runs`` times each:

- ``python3 -c pass`` -- the interpreter alone, the floor every command pays;
- ``pmap --help`` -- a C tool's start-up, for scale;
- ``memlens --version`` and ``memlens --help`` through the installed console
  script (``.venv/bin/memlens``), as a user runs them;
- ``memlens read --help`` -- one verb's modules and parser, no work.

Wall time and CPU time (user + system) per run, median and min-max, are
printed with the load average before and after: on a shared machine wall time
includes waiting for a CPU, so compare figures of one run only, and read the
CPU times and the minima as what an idle machine gives.
memlens's bytecode is compiled first, as an installed package's is (a sandbox
may set PYTHONDONTWRITEBYTECODE, which would recompile it on every run).

    .venv/bin/python benchmarks/bench_startup.py [--runs 21] [--before DIR]

``--before DIR`` adds ``--version`` and ``--help`` of another checkout's
``src`` (e.g. ``git archive main src | tar -x -C DIR``), both trees started
alike through ``python -c``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMLENS = str(ROOT / ".venv" / "bin" / "memlens")


#: the command line through ``python -c`` with another tree's ``src`` first on sys.path
ENTRY = "import sys; sys.argv[0] = 'memlens'; from memlens.cli.main import entry; entry()"


def commands(before: Path | None) -> dict[str, list[str]]:
    cmds = {
        "python3 -c pass": [sys.executable, "-c", "pass"],
        "memlens --version": [MEMLENS, "--version"],
        "memlens --help": [MEMLENS, "--help"],
        "memlens read --help": [MEMLENS, "read", "--help"],
    }
    pmap = shutil.which("pmap")
    if pmap:
        cmds["pmap --help"] = [pmap, "--help"]
    if before is not None:
        for tree, src in (("this tree", ROOT / "src"), ("--before", before / "src")):
            for flag in ("--version", "--help"):
                cmds[f"{tree}: {flag}"] = ["env", f"PYTHONPATH={src}", sys.executable, "-c",
                                           ENTRY, flag]  # fmt: skip
    return cmds


def time_once(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _fmt(ts: list[float]) -> str:
    ms = sorted(t * 1000 for t in ts)
    return f"{statistics.median(ms):7.1f} ms {ms[0]:6.1f}-{ms[-1]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--before", type=Path, metavar="DIR",
                    help="also run another checkout's src (git archive main src | tar -x -C DIR)")
    opts = ap.parse_args()
    for tree in (ROOT, opts.before):
        if tree is not None:
            compileall.compile_dir(str(tree / "src" / "memlens"), quiet=1)
    cmds = commands(opts.before)
    for argv in cmds.values():  # warm the page cache
        time_once(argv)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    load_before = os.getloadavg()
    for _ in range(opts.runs):
        for name, argv in cmds.items():
            times[name].append(time_once(argv))
    load_after = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; {opts.runs} runs each, interleaved")  # fmt: skip
    print(f"{'command':<26} {'wall: median, min-max':>27}   {'CPU: median, min-max':>26}")
    for name, ts in times.items():
        print(f"{name:<26} {_fmt([w for w, _ in ts]):>27}   {_fmt([c for _, c in ts]):>26}")


if __name__ == "__main__":
    main()

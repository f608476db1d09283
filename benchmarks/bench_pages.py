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
and CPU time (user+sys, min) are reported, with the load average before and
after.  ``python -c pass`` runs beside them (the interpreter's start-up every
memlens command pays), and so does memlens's own start-up for ``pages``: its
imports and argument parser, no work.  ``python -c "import numpy"`` shows what
the text paths of ``memlens pages`` no longer pay (they do not import numpy;
tests/sources/live/test_pages_no_numpy.py checks it).  memlens's
bytecode is compiled first, as an installed package's is (this sandbox sets
PYTHONDONTWRITEBYTECODE, which would otherwise recompile it on every run).
Needs root (kpage* files), gcc, and go for the ptexplore model: every ratio is
against the model measured beside memlens in the same run, never a constant.

    sudo .venv/bin/python benchmarks/bench_pages.py [--mib 512] [--runs 7] [--before DIR]
        [--page-types PATH]

3. The floor of the per-page output, stage by stage (``page_floor.c``): pagemap
   alone, + kpageflags, + kpagecount (each over sorted, de-duplicated PFN runs),
   + the lines.  The Go model's time over a stage's is the most any reader of
   those files could beat the model by on this kernel.
4. With ``--page-types PATH`` (``benchmarks/build_page_types.sh`` builds it), the
   kernel's ``page-types -p PID`` beside ``memlens pages PID --summary``.

``--before DIR`` also runs the same two commands from another checkout's
``src`` (e.g. ``git archive main src | tar -x -C DIR``), interleaved with the
rest, both that and this one through ``python -c`` so they start alike.
"""

from __future__ import annotations

import argparse
import compileall
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
PYTHON = str(ROOT / ".venv" / "bin" / "python")
#: what ``memlens pages PID`` loads before it reads anything: the console script's
#: own import, the verb's modules and its parser (run with ``python -c``)
STARTUP = """
import re
from memlens.cli.main import build_parser
build_parser("pages").parse_args(["pages", "1"])
import memlens.render.pagelines, memlens.sources.live.pagetables
"""

#: the command line run by ``python -c`` (for --before: the same start for both trees)
ENTRY = """
import re, sys
from memlens.cli.main import entry
sys.argv = ["memlens", *sys.argv[1:]]
entry()
"""

#: open + scan + summarize, and open + scan + per-page text to /dev/null, timed
#: after the imports: the work of the two commands without interpreter start-up
#: (a PID is read as the verb reads it: LivePageTables, no snapshot)
IN_PROCESS = """
import os, sys, time
from memlens.analyses.pages import scan
from memlens.analyses.pagesummary import summarize
from memlens.render.pagelines import write_regions
from memlens.sources.live.pagetables import LivePageTables
t0 = time.perf_counter()
with LivePageTables(int(sys.argv[1])) as snap:
    summary = summarize(scan(snap, snap.regions, counts=False), snap.page_size)
t1 = time.perf_counter()
with LivePageTables(int(sys.argv[1])) as snap, open(os.devnull, "wb") as null:
    write_regions(null, scan(snap, snap.regions), snap.word_size)
t2 = time.perf_counter()
print(f"{t1 - t0:.6f} {t2 - t1:.6f}")
"""


#: page_floor.c's stages: what each reads (see its header)
FLOOR_STAGES = ("pagemap", "flags", "counts", "lines")


def build(tmp: Path) -> dict[str, list[str]]:
    progs: dict[str, list[str]] = {}
    for name in ("pread_per_page", "bulk_floor", "hold", "page_floor"):
        out = tmp / name
        subprocess.run(["gcc", "-O2", "-o", str(out), str(HERE / f"{name}.c")], check=True)
        progs[name] = [str(out)]
    if not shutil.which("go"):
        sys.exit("needs go: the ptexplore model is the peer every ratio is taken against")
    out = tmp / "ptmodel"
    env = {**os.environ, "GO111MODULE": "off", "GOCACHE": str(tmp / "gocache")}
    subprocess.run(["go", "build", "-o", str(out), str(HERE / "ptmodel" / "main.go")],
                   check=True, env=env)  # fmt: skip
    progs["ptmodel"] = [str(out)]
    return progs


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, user+sys CPU seconds) of one run, output to /dev/null."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--before", type=Path, metavar="DIR",
                    help="also run the commands from DIR/src (another checkout), side by side")
    ap.add_argument("--page-types", metavar="PATH",
                    help="the kernel's page-types binary, run beside pages --summary")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root: /proc/kpageflags and PFNs", file=sys.stderr)
        return 2
    compileall.compile_dir(str(ROOT / "src" / "memlens"), quiet=1)
    trees = {"this tree": ROOT / "src"}
    if args.before is not None:
        trees = {"before": args.before / "src", **trees}
        compileall.compile_dir(str(args.before / "src" / "memlens"), quiet=1)
    load_before = os.getloadavg()
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
            cases["Go ptexplore model"] = [*progs["ptmodel"], pid]
            for stage in FLOOR_STAGES:
                cases[f"floor: {stage}"] = [*progs["page_floor"], pid, stage]
            if args.page_types:
                cases["page-types -p PID"] = [args.page_types, "-p", pid]
            envs: dict[str, dict[str, str]] = {}
            if args.before is not None:
                for label, src in trees.items():
                    envs[f"{label}: pages PID"] = {**os.environ, "PYTHONPATH": str(src)}
                    cases[f"{label}: pages PID"] = [PYTHON, "-c", ENTRY, "pages", pid]
                    envs[f"{label}: pages PID --summary"] = envs[f"{label}: pages PID"]
                    cases[f"{label}: pages PID --summary"] = [PYTHON, "-c", ENTRY, "pages", pid,
                                                              "--summary"]  # fmt: skip
            cases["python -c pass"] = [PYTHON, "-c", "pass"]
            cases["memlens pages start-up, no work"] = [PYTHON, "-c", STARTUP]
            cases["python -c 'import numpy'"] = [PYTHON, "-c", "import numpy"]
            # what memlens's command line sets before numpy loads
            cases["  the same, OPENBLAS_NUM_THREADS=1"] = [
                "env", "OPENBLAS_NUM_THREADS=1", PYTHON, "-c", "import numpy"]  # fmt: skip
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
            inproc: list[float] = []
            inproc_pages: list[float] = []
            for _ in range(args.runs):
                for name, cmd in cases.items():
                    results[name].append(timed(cmd, envs.get(name)))
                out = subprocess.run([PYTHON, "-c", IN_PROCESS, pid],
                                     capture_output=True, text=True, check=True).stdout  # fmt: skip
                inproc.append(float(out.split()[0]))
                inproc_pages.append(float(out.split()[1]))
        finally:
            hold.kill()
            hold.wait()
    load_after = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print("load average (1/5/15 min): before " + "/".join(f"{x:.2f}" for x in load_before)
          + ", after " + "/".join(f"{x:.2f}" for x in load_after))  # fmt: skip
    print(f"target: {args.mib} MiB held, VmRSS {rss} kB, {pages} present pages; "
          f"{args.runs} runs each, interleaved\n")  # fmt: skip
    print(f"{'program':38} {'wall median (min-max) s':>26} {'cpu median s':>13}")
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        print(f"{name:38} {statistics.median(walls):9.3f} ({min(walls):.3f}-{max(walls):.3f})"
              f" {statistics.median(cpus):13.3f}")  # fmt: skip
    for name, times in (("memlens pages, in-process", inproc_pages),
                        ("memlens summary, in-process", inproc)):  # fmt: skip
        print(f"{name:38} {statistics.median(times):9.3f} ({min(times):.3f}-{max(times):.3f})")
    med = {name: statistics.median(w for w, _ in runs) for name, runs in results.items()}
    low = {name: min(w for w, _ in runs) for name, runs in results.items()}
    ml = med["memlens pages PID"]
    print("\nratios of median wall times:")
    go = med["Go ptexplore model"]
    print(f"per-page output: memlens is {go / ml:.1f}x faster than the Go ptexplore model "
          f"run beside it ({go:.3f} s median); by minima "
          f"{low['Go ptexplore model'] / low['memlens pages PID']:.1f}x")  # fmt: skip
    work = statistics.median(inproc_pages)
    print(f"per-page output without start-up (in-process): {go / work:.1f}x faster than "
          "the Go model's whole run")  # fmt: skip
    c = med["C one-pread-per-page, buffered"]
    print(f"per-page output: memlens vs buffered C one-pread-per-page: {c / ml:.2f}x")
    floor = med["C raw floor (bulk reads only)"]
    summ = med["memlens pages PID --summary"]
    print(f"--summary: {summ / floor:.2f}x the raw floor as a command; "
          f"in-process {statistics.median(inproc) / floor:.2f}x; by minima "
          f"{low['memlens pages PID --summary'] / low['C raw floor (bulk reads only)']:.2f}x")
    for stage in FLOOR_STAGES:
        stage_s = med[f"floor: {stage}"]
        print(f"floor '{stage}': {stage_s:.3f} s; the Go model / it = {go / stage_s:.1f}x "
              f"(the most any reader of these files beats the model by)")
    if args.page_types:
        pt = med["page-types -p PID"]
        print(f"--summary: {summ / pt:.2f}x page-types -p PID ({pt:.3f} s median); by minima "
              f"{low['memlens pages PID --summary'] / low['page-types -p PID']:.2f}x")
    start = med["memlens pages start-up, no work"]
    print(f"start-up of memlens pages (imports, parser): {start:.3f} s median, of which "
          f"{med['python -c pass']:.3f} s is the interpreter's own")
    return 0


if __name__ == "__main__":
    sys.exit(main())

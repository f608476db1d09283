"""Python workloads: memlens against memray, side by side in one run (issue 12).

Three workloads (a dict of 1e6 items, ``json.loads`` of ~50 MB, a pool of 8
threads building lists), each run round after round as: plain; the memlens
shim alone (``LD_PRELOAD``, Python frames and pymalloc arenas on -- the cost
to the program); ``memlens run`` end to end (shim plus the exit snapshot and
report); ``memray run``; ``memray run --native``.  Wall time and the peak RSS of
the process running the workload (``ru_maxrss`` from ``wait4``; for ``memlens
run`` that is memlens's own process tree, so it is left out there).  Also every
object as a block: the shim with ``PYTHONMALLOC=malloc`` (``memlens run
--no-pymalloc``) against ``memray run --trace-python-allocators``.  Goals:
wall <= memray's and <= 0.7x memray --native's; peak RSS <= memray's.
Figures in BENCHMARKS.md.

memlens's modules are byte-compiled first, as ``pip install`` does: an editable
install under ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile them at every
start (0.2 s here), while memray's installed package has its ``.pyc`` files.

``--ref REV`` adds ``memlens run`` of git revision REV's Python code (``git
archive``; its shim is this tree's, so the row measures the Python side), in the
same rounds.

Usage: .venv/bin/python benchmarks/bench_python.py [--runs N] [--only NAME] [--ref REV]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import memlens
from memlens.heap.runner import shim_path

WORKLOADS = {
    "dict-1e6": "table = {i: str(i) for i in range(1_000_000)}\nprint(len(table))\n",
    "json-50MB": (
        "import json, sys\n"
        "text = open(sys.argv[1]).read()\n"
        "data = json.loads(text)\n"
        "print(len(data))\n"
    ),
    "threads-8": (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def work(k):\n"
        "    return sum(len([j] * 8) for j in range(150_000 + k))\n"
        "with ThreadPoolExecutor(8) as pool:\n"
        "    print(sum(pool.map(work, range(8))))\n"
    ),
}


def make_json(path: Path) -> None:
    """About 50 MB of JSON: records with strings, numbers and nested lists."""
    row = '{"id": %d, "name": "user-%d", "score": %d.5, "tags": ["a", "bb", "ccc"]},'
    with open(path, "w") as f:
        f.write("[")
        n = 0
        while f.tell() < 50_000_000:
            f.write("".join(row % (i, i, i % 997) for i in range(n, n + 10_000)))
            n += 10_000
        f.write('{"id": -1}]')


def reference_tree(rev: str, into: Path) -> dict[str, str]:
    """An environment running memlens's Python code of git revision ``rev`` (byte-compiled,
    with this tree's built shim and extensions)."""
    here = Path(memlens.__file__).resolve().parent
    into.mkdir()
    top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    archive = subprocess.run(["git", "-C", top, "archive", rev, "src"], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for built in here.rglob("*.so"):
        shutil.copy(built, into / "src" / "memlens" / built.relative_to(here))
    compileall.compile_dir(str(into / "src" / "memlens"), quiet=1)
    return dict(os.environ, PYTHONPATH=str(into / "src"))


def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, float]:
    """Wall seconds, peak RSS in KiB and CPU seconds (user + system, the whole process
    tree: less disturbed than wall time on a loaded machine) of one run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status:
        raise SystemExit(f"{' '.join(argv)} failed: status {status}")
    return wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def fmt(xs: list[float], unit: str = "s") -> str:
    return f"{statistics.median(xs):.2f} {unit} ({min(xs):.2f}-{max(xs):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=sorted(WORKLOADS))
    ap.add_argument("--ref", help="also run memlens run from this git revision's Python code")
    args = ap.parse_args()
    memray = shutil.which("memray") or str(Path(sys.executable).with_name("memray"))
    if not os.path.exists(memray):
        raise SystemExit("memray is not installed (pip install memray)")
    py = sys.executable
    compileall.compile_dir(os.path.dirname(memlens.__file__), quiet=1)  # as pip install does
    memlens_cmd = [py, "-m", "memlens"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average at start: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="memlens-py-") as tmp:
        work = Path(tmp)
        make_json(work / "data.json")
        ref_env = reference_tree(args.ref, work / "ref") if args.ref else None
        for name, code in WORKLOADS.items():
            if args.only and name != args.only:
                continue
            script = work / f"{name}.py"
            script.write_text(code)
            target = [str(script), str(work / "data.json")]
            base = dict(os.environ)
            configs = {
                "plain": ([py, *target], base),
                "memlens shim": ([py, *target], dict(base, LD_PRELOAD=shim_path())),
                "memlens run": ([*memlens_cmd, "run", "--out", str(work / "ml"), "--", py, *target],
                                base),
                "memray run": ([memray, "run", "-f", "-q", "-o", str(work / "m.bin"), *target],
                               base),
                "memray run --native": ([memray, "run", "--native", "-f", "-q", "-o",
                                         str(work / "mn.bin"), *target], base),
                **({"memlens run (ref)": ([*memlens_cmd, "run", "--out", str(work / "mlr"), "--",
                                          py, *target], ref_env)} if ref_env else {}),
                # every object a block / a record: memlens --no-pymalloc against memray's
                # own per-object mode
                "memlens shim, no pymalloc": ([py, *target],
                                              dict(base, LD_PRELOAD=shim_path(),
                                                   PYTHONMALLOC="malloc")),
                "memray --trace-python-allocators": ([memray, "run",
                                                      "--trace-python-allocators", "-f", "-q",
                                                      "-o", str(work / "mt.bin"), *target],
                                                     base),
            }  # fmt: skip
            walls: dict[str, list[float]] = {k: [] for k in configs}
            rss: dict[str, list[float]] = {k: [] for k in configs}
            cpus: dict[str, list[float]] = {k: [] for k in configs}
            for _ in range(args.runs):
                for cname, (argv, env) in configs.items():
                    w, r, c = run(argv, env, work)
                    walls[cname].append(w)
                    rss[cname].append(r / 1024)
                    cpus[cname].append(c)
            print(f"\n{name} ({args.runs} rounds, interleaved)")
            plain = statistics.median(walls["plain"])
            ref = statistics.median(walls["memray run"])
            ref_native = statistics.median(walls["memray run --native"])
            for cname in configs:
                m = statistics.median(walls[cname])
                # memlens run's maxrss is memlens's own process tree: left out
                peak = "" if cname.startswith("memlens run") else (
                    f"  peak RSS {fmt(rss[cname], 'MiB')}")
                cpu = statistics.median(cpus[cname]) / statistics.median(cpus["memray run"])
                print(f"  {cname:33s} {fmt(walls[cname])}  {m / plain:.2f}x plain  "
                      f"{m / ref:.2f}x memray  {m / ref_native:.2f}x memray --native  "
                      f"CPU {fmt(cpus[cname])} = {cpu:.2f}x memray's{peak}")


if __name__ == "__main__":
    main()

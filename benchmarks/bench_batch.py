"""``memlens batch info`` over many minidumps: per-file cost and the speed-up
from 1 to 2 worker processes, beside the machine's own limit, in one run.

Each round runs, interleaved, on the same inputs (a fresh output folder each):

1. ``in-process``: the ``info`` analysis of each file in a loop in this process
   (open, summarize, symbolize the crashed thread) -- ``memlens info`` without
   its start-up;
2. ``ideal, 2 processes``: the same loop split in two halves, each in a process
   forked from this (warm) one: no Dask, no Parquet -- the best two CPUs do;
3. ``run_batch, 1 worker`` (in this process, as ``--workers 1``);
4. ``run_batch, 2 workers``: the local pool of worker processes
   (``memlens.batch.pool``, forked from a fork server that has imported the
   analysis; the server is started before the rounds, as it is once per process);
5. ``Dask's own pool, 2 workers``: the same tasks on Dask's default process pool
   (new interpreters by ``spawn``, six tasks handed out at a time) -- what
   ``run_batch`` used before;
6. ``CLI, N workers``: ``memlens batch info DIR -o OUT --workers N`` as a new
   process, end to end (interpreter, imports, pool start, the report it prints).

Wall time is what the speed-ups use; CPU seconds (this process, its forked
children, and the fork server's workers) say where the second CPU went when the
machine is busy.  Figures are median (min-max) over ``--runs`` rounds.
Usage: .venv/bin/python benchmarks/bench_batch.py [--files N] [--runs R]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from memlens.batch.inputs import content_key  # noqa: E402
from memlens.batch.scheduler import DEFAULT_CHUNK, plan, run_batch, run_chunk  # noqa: E402
from memlens.batch.tasks import TaskOptions, analyse  # noqa: E402

SOURCES = ["minidump2.dmp", "linux_raise_sigabrt.dmp", "linux_inline.dmp",
           "tiny-exe-with-cet-xsave.dmp"]  # fmt: skip


def make_inputs(folder: Path, n: int) -> list[str]:
    data = [(ROOT / "tests/data/minidump" / s).read_bytes() for s in SOURCES]
    paths = []
    for i in range(n):
        p = folder / f"{i:05}.dmp"
        p.write_bytes(data[i % len(data)] + i.to_bytes(4, "little"))  # distinct content
        paths.append(str(p))
    return paths


def analyse_all(paths: list[str]) -> None:
    for p in paths:
        analyse(p, "info", content_key(p))


def forked_halves(paths: list[str]) -> None:
    pids = []
    middle = len(paths) // 2
    for half in (paths[:middle], paths[middle:]):  # the same mix of the sources in each
        pid = os.fork()
        if pid == 0:  # the child: its half, then out without Python's exit handlers
            analyse_all(half)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)


def dask_own_pool(folder: str, out: str, chunk: int) -> None:
    import dask

    planned, known, _, _ = plan("info", [folder], out, chunk)
    os.makedirs(out, exist_ok=True)
    tasks = [dask.delayed(run_chunk, pure=False)(c, p, "info", out, known, TaskOptions())
             for c, p in planned]  # fmt: skip
    dask.compute(*tasks, scheduler="processes", num_workers=2)


def fork_server_cpu() -> float:
    """CPU seconds of the fork server's reaped workers (and its own)."""
    from multiprocessing import forkserver

    pid = forkserver._forkserver._forkserver_pid
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_now() -> tuple[float, float]:
    """CPU seconds so far of this process, and of its children and the fork server's."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system + fork_server_cpu()


def timed(run: Callable[[], object]) -> tuple[float, float, float]:
    """Wall seconds of ``run``, CPU seconds of this process and of the others in it."""
    (own0, others0), t0 = cpu_now(), time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    time.sleep(0.2)  # the fork server reaps its workers on SIGCHLD
    own, others = cpu_now()
    return wall, own - own0, others - others0


def cli(folder: str, out: str, workers: int, chunk: int) -> None:
    memlens = str(Path(sys.executable).parent / "memlens")
    command = [memlens, "batch", "info", folder, "-o", out, "--workers", str(workers),
               "--chunk", str(chunk), "--top", "1"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.3f} s ({min(xs):.3f}-{max(xs):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="inputs per task")
    args = ap.parse_args()
    n = args.files
    load = os.getloadavg()[0]
    print(f"{n} minidumps, {args.chunk} a task, {os.cpu_count()} CPUs, load at start {load:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        paths = make_inputs(folder, n)

        def out(name: str) -> str:
            path = Path(tmp) / name
            shutil.rmtree(path, ignore_errors=True)
            return str(path)

        def batch(workers: int) -> None:
            result = run_batch("info", [str(folder)], out(f"w{workers}"), workers=workers,
                               chunk_size=args.chunk)  # fmt: skip
            assert result.analysed == n and result.errors == 0

        configs: dict[str, Callable[[], object]] = {
            "in-process": lambda: analyse_all(paths),
            "ideal, 2 processes": lambda: forked_halves(paths),
            "run_batch, 1 worker": lambda: batch(1),
            "run_batch, 2 workers": lambda: batch(2),
            "Dask's own pool, 2 workers": lambda: dask_own_pool(str(folder), out("dask"),
                                                                args.chunk),
            "CLI, 1 worker": lambda: cli(str(folder), out("cli1"), 1, args.chunk),
            "CLI, 2 workers": lambda: cli(str(folder), out("cli2"), 2, args.chunk),
        }
        run_batch("info", paths[:4], out("warm"), workers=2, chunk_size=2)  # the fork server
        time.sleep(0.2)  # which reaps these workers before the first measurement
        walls: dict[str, list[float]] = {name: [] for name in configs}
        owns: dict[str, list[float]] = {name: [] for name in configs}
        others: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(args.runs):
            for name, run in configs.items():
                wall, own, other = timed(run)
                walls[name].append(wall)
                owns[name].append(own)
                others[name].append(other)
        print(f"load at end {os.getloadavg()[0]:.2f}")
    med = {name: statistics.median(xs) for name, xs in walls.items()}
    print("(cpu: per file, of this process + of the worker or forked processes)")
    for name in configs:
        own, other = (statistics.median(xs[name]) / n * 1e3 for xs in (owns, others))
        cpu = "" if name.startswith("CLI") else f"  cpu {own:.2f} + {other:.2f} ms/file"
        print(f"{name:27}: {fmt(walls[name])} = {med[name] / n * 1e3:.2f} ms/file{cpu}")
    base = med["in-process"]
    print(f"per-file cost, 1 worker vs in-process: {med['run_batch, 1 worker'] / base:.2f}x")
    for two, one in (("ideal, 2 processes", "in-process"),
                     ("run_batch, 2 workers", "run_batch, 1 worker"),
                     ("Dask's own pool, 2 workers", "run_batch, 1 worker"),
                     ("CLI, 2 workers", "CLI, 1 worker")):  # fmt: skip
        speedup = med[one] / med[two]
        print(f"speed-up, {one} -> {two}: {speedup:.2f}x ({speedup / 2:.2f} of linear)")


if __name__ == "__main__":
    main()

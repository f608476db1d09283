"""Issue 3 core benchmarks, side by side in one run.

1. Write a 1 GiB core of a live process: ``memlens snapshot`` vs gdb ``gcore``.
2. Open it: ``memlens.open`` (lazy: headers and notes only) vs pyelftools headers.
3. Scan all of it for an absent 8-byte pattern (worst case: every byte is read):
   memlens ``search`` in process and the ``memlens find --count`` CLI, vs
   ``grep -c -F`` and Python ``mmap.find`` over the same file.

Usage: .venv/bin/python benchmarks/bench_cores.py [MiB]   (default 1024)
"""

from __future__ import annotations

import mmap
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import memlens  # noqa: E402
from memlens.analyses.search import search  # noqa: E402

PATTERN = bytes.fromhex("0123456789abcdef")


def timed(fn, repeat: int = 1) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median wall time of ``fn`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def cpu(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Median CPU seconds (this process and its children) of ``fn``: robust to other load."""
    times = []
    for _ in range(repeat):
        a, c = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        fn()
        b, d = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        times.append(sum(getattr(y, f) - getattr(x, f) for x, y in ((a, b), (c, d))
                         for f in ("ru_utime", "ru_stime")))  # fmt: skip
    return statistics.median(times)


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, check=False, **kw)  # type: ignore[call-overload]


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    work = Path(tempfile.mkdtemp(prefix="memlens-bench-"))
    exe = work / "fill"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "benchmarks" / "fill.c")], check=True)
    proc = subprocess.Popen([str(exe), str(mib)], stdout=subprocess.PIPE)
    memlens_bin = str(ROOT / ".venv" / "bin" / "memlens")
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        core = work / "ml.core"
        t_snap, _ = timed(lambda: run([memlens_bin, "snapshot", str(proc.pid), "-o", str(core)]))
        gcore = work / "gdb.core"
        t_gcore = float("nan")
        if shutil.which("gdb"):
            t_gcore, _ = timed(lambda: run(["gdb", "-nx", "-batch", "-p", str(proc.pid), "-ex",
                                            f"gcore {gcore}"]))  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    size = core.stat().st_size
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}, Python {sys.version.split()[0]}")
    print(f"core: {size / 2**30:.2f} GiB, {mib} MiB of data")
    print(
        f"write:  memlens snapshot {t_snap:.2f} s   gdb gcore {t_gcore:.2f} s   "
        f"ratio {t_gcore / t_snap:.1f}x"
    )

    for path in (core, gcore):
        with open(path, "rb") as f:  # warm the page cache for every reader alike
            while f.read(64 << 20):
                pass

    def open_memlens() -> int:
        with memlens.open(str(core)) as snap:
            return len(snap.regions)

    def open_pyelftools() -> int:
        from elftools.elf.elffile import ELFFile

        with open(core, "rb") as f:
            return sum(1 for _ in ELFFile(f).iter_segments())

    open_memlens()
    t_open, regions = timed(open_memlens, 21)
    t_open_gdbcore, _ = timed(lambda: memlens.open(str(gcore)).close(), 21) if gcore.exists() else (
        float("nan"), None)  # fmt: skip
    t_elft, _ = timed(open_pyelftools, 21)
    print(
        f"open:   memlens.open {t_open * 1e3:.2f} ms ({regions} regions; gcore file "
        f"{t_open_gdbcore * 1e3:.2f} ms)   pyelftools segments {t_elft * 1e3:.2f} ms"
    )

    def scan_memlens() -> int:
        with memlens.open(str(core)) as snap:
            return sum(1 for _ in search(snap.space, PATTERN))

    saved = sum(e - s for s, e, _ in memlens.open(str(core)).space.saved_ranges())
    grep = ["grep", "-c", "-F", "-a", PATTERN.decode("latin-1"), str(core)]

    def scan_mmap() -> int:
        with open(core, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(PATTERN)

    finders = {
        "memlens search": scan_memlens,
        "memlens find CLI": lambda: run([memlens_bin, "find", str(core), "--hex", PATTERN.hex(),
                                         "--count"]),
        "grep -c -F": lambda: run(grep, env={"LC_ALL": "C"}),
        "mmap.find": scan_mmap,
    }
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    walls: dict[str, list[float]] = {k: [] for k in finders}
    results: dict[str, object] = {}
    for _ in range(rounds):  # interleaved: a change in load hits every finder alike
        for k, fn in finders.items():
            t0 = time.perf_counter()
            results[k] = fn()
            walls[k].append(time.perf_counter() - t0)
    hits = results["memlens search"]
    cli_hits = results["memlens find CLI"].stdout.decode().strip()  # type: ignore[attr-defined]
    print(f"find: full scan for an absent pattern, {rounds} interleaved rounds, "
          f"wall median (min-max); {hits} hits (CLI {cli_hits}); "
          f"{saved / 2**30:.2f} GiB saved bytes, file {size / 2**30:.2f} GiB")
    grep_med = statistics.median(walls["grep -c -F"])
    for k, ts in walls.items():
        med = statistics.median(ts)
        print(f"  {k:18s} {med:.3f} s ({min(ts):.3f}-{max(ts):.3f})  "
              f"{size / 2**30 / med:.2f} GiB/s of the file  "
              f"time / grep's {med / grep_med:.2f}  (speed {grep_med / med:.2f}x grep's)")
    c_find = cpu(scan_memlens)
    c_grep = cpu(lambda: run(grep, env={"LC_ALL": "C"}))
    c_mmap = cpu(scan_mmap)
    print(
        f"find per CPU second (median of 3): memlens search {size / 2**30 / c_find:.2f} GiB/s   "
        f"grep -c -F {size / 2**30 / c_grep:.2f} GiB/s   "
        f"mmap.find {size / 2**30 / c_mmap:.2f} GiB/s"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

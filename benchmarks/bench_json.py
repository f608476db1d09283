#!/usr/bin/env python3
"""What ``--json`` costs beside the text output of the same command (issue 18: <= 1.3x).

Each case runs the same memlens command line with and without ``--json``,
interleaved, ``--runs`` times, stdout to /dev/null; wall and CPU time (user +
system) are reported as median and min-max, with the ratio of the medians.

Cases: ``find`` with many matches in a core (tests/data), every stream of a
minidump, ``symbolize`` of ``--addresses`` random addresses in the system's
libc, and ``maps`` / ``pages`` of a live process holding 64 MiB.

    .venv/bin/python benchmarks/bench_json.py [--runs 5] [--addresses 20000]
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from elftools.elf.elffile import ELFFile

ROOT = Path(__file__).resolve().parent.parent
MEMLENS = str(ROOT / ".venv" / "bin" / "memlens")
DATA = ROOT / "tests" / "data"


def _libc() -> str:
    """The C library this interpreter runs with (its path from /proc/self/maps)."""
    with open("/proc/self/maps") as f:
        return next(line.split()[-1] for line in f if "/libc.so" in line or "/libc-" in line)


LIBC = _libc()

HOLDER = r"""
import mmap, sys
m = mmap.mmap(-1, 64 << 20)
for off in range(0, 64 << 20, mmap.PAGESIZE):
    m[off] = 1
print("ready", flush=True)
sys.stdin.read()
"""


def run_once(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def libc_addresses(count: int, path: Path) -> None:
    """``count`` random addresses inside libc's executable segment, one per line."""
    with open(LIBC, "rb") as f:
        seg = next(s for s in ELFFile(f).iter_segments()
                   if s["p_type"] == "PT_LOAD" and s["p_flags"] & 1)  # fmt: skip
        lo, hi = seg["p_vaddr"], seg["p_vaddr"] + seg["p_memsz"]
    rng = random.Random(18)
    path.write_text("".join(f"{rng.randrange(lo, hi):x}\n" for _ in range(count)))


def _fmt(ts: list[float]) -> str:
    ms = sorted(t * 1000 for t in ts)
    return f"{statistics.median(ms):8.0f} ms ({ms[0]:.0f}-{ms[-1]:.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--addresses", type=int, default=20000)
    opts = ap.parse_args()
    compileall.compile_dir(str(ROOT / "src" / "memlens"), quiet=1)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
    with tempfile.TemporaryDirectory() as tmp:
        addrs = Path(tmp) / "addresses.txt"
        libc_addresses(opts.addresses, addrs)
        core = str(DATA / "elfcore" / "core_linux64.elf")
        cases = {
            "find (200000 matches)": ["find", core, "--hex", "00", "--max", "200000"],
            "minidump (all streams)": ["minidump",
                                       str(DATA / "minidump" / "tiny-exe-with-cet-xsave.dmp")],
            f"symbolize ({opts.addresses} libc addresses)": ["symbolize", LIBC, "-"],
            "maps (live)": ["maps", str(holder.pid)],
            "pages (live, 64 MiB)": ["pages", str(holder.pid)],
        }  # fmt: skip
        times: dict[str, dict[str, list[tuple[float, float]]]] = {
            name: {"text": [], "json": []} for name in cases}
        load_before = os.getloadavg()
        try:
            for _ in range(opts.runs):
                for name, argv in cases.items():
                    for mode, extra in (("text", []), ("json", ["--json"])):
                        cmd = [MEMLENS, *argv, *extra]
                        if argv[-1] == "-":
                            cmd = ["sh", "-c", f'"$0" "$@" < {addrs}', *cmd]
                        times[name][mode].append(run_once(cmd))
        finally:
            holder.kill()
            holder.wait()
        load_after = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; {opts.runs} runs each, interleaved")  # fmt: skip
    print(f"{'case':<34} {'text wall':>22} {'--json wall':>22} {'ratio':>6} "
          f"{'text CPU':>22} {'--json CPU':>22} {'ratio':>6}")  # fmt: skip
    for name, modes in times.items():
        cells = []
        for i in (0, 1):
            t = [x[i] for x in modes["text"]]
            j = [x[i] for x in modes["json"]]
            ratio = statistics.median(j) / statistics.median(t)
            cells.append(f"{_fmt(t):>22} {_fmt(j):>22} {ratio:5.2f}x")
        print(f"{name:<34} {cells[0]} {cells[1]}")


if __name__ == "__main__":
    main()

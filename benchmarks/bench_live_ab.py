#!/usr/bin/env python3
"""``memlens maps PID`` and ``memlens procs`` of two installs side by side with their peers.

The start-up work (branch ``startup``) is judged by bench_live.py's two ratios; run
alone, that script compares only this tree with the peers, and on a shared machine
the peers' own times move between runs (pmap -X on a 512 MiB process: 17 ms in one
run, 28 ms in the next).  This runs, interleaved in one loop, ``pmap -X PID`` and
``smem`` and both commands of this tree's ``.venv/bin/memlens`` and of another
install's (``--before``: e.g. a checkout of main with its own .venv), on the same
held process (benchmarks/hold.c), and prints median and min-max wall time of each
and each memlens's ratio to its peer.

    .venv/bin/python benchmarks/bench_live_ab.py --before /path/to/other/.venv/bin/memlens
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEMLENS = str(ROOT / ".venv" / "bin" / "memlens")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the other install's memlens command")
    ap.add_argument("--label", default="before", help="what to call the other install")
    ap.add_argument("--startup", action="store_true", help="also --version and --help of both")
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    compileall.compile_dir(str(ROOT / "src" / "memlens"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        hold_exe = Path(tmp) / "hold"
        subprocess.run(["gcc", "-O2", "-o", str(hold_exe), str(HERE / "hold.c")], check=True)
        hold = subprocess.Popen([str(hold_exe), str(args.mib)], stdout=subprocess.PIPE)
        try:
            assert hold.stdout is not None and hold.stdout.readline().strip() == b"ready"
            pid = str(hold.pid)
            cmds: dict[str, list[str]] = {"pmap -X PID": ["pmap", "-X", pid]}
            if shutil.which("smem"):
                cmds["smem"] = ["smem"]
            for label, exe in ((args.label, args.before), ("this tree", MEMLENS)):
                cmds[f"memlens maps PID ({label})"] = [exe, "maps", pid]
                cmds[f"memlens procs ({label})"] = [exe, "procs"]
                if args.startup:
                    cmds[f"memlens --version ({label})"] = [exe, "--version"]
                    cmds[f"memlens --help ({label})"] = [exe, "--help"]
            for cmd in cmds.values():  # warm the page cache
                timed(cmd)
            load = os.getloadavg()
            times: dict[str, list[float]] = {name: [] for name in cmds}
            for _ in range(args.runs):
                for name, cmd in cmds.items():
                    times[name].append(timed(cmd))
            after = os.getloadavg()
        finally:
            hold.kill()
            hold.wait()
    print(f"{os.cpu_count()} CPUs, {args.mib} MiB held, {args.runs} runs interleaved, "
          f"load average {load[0]:.2f} before, {after[0]:.2f} after")  # fmt: skip
    print(f"{args.label}: {args.before}\nthis tree: {MEMLENS}\n")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    width = max(map(len, times)) + 2
    for name, ts in times.items():
        ms = sorted(t * 1000 for t in ts)
        peer = "pmap -X PID" if "maps" in name else "smem" if "procs" in name else None
        ratio = f"   {med[name] / med[peer]:.2f}x {peer}" if peer in med else ""
        print(f"{name:<{width}} {statistics.median(ms):6.1f} ms  {ms[0]:5.1f}-{ms[-1]:.1f}{ratio}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Issue 14 speed goals, measured side by side in one run, commands interleaved.

* ``memlens maps PID`` beside ``pmap -X PID`` (both read /proc/PID/smaps) on a
  process holding ``--mib`` MiB (goal: <= 1.5x);
* ``memlens procs`` beside ``smem`` over every process (goal: <= 0.5x);
* ``memlens pages PID --json`` beside the text path ``memlens pages PID`` (goal: <= 3x);
* ``memlens snapshot PID`` for the record.

Each command runs ``--runs`` times; wall time median and min-max, output to
/dev/null, load average before and after.  memlens's bytecode is compiled first,
as an installed package's is.  Needs root (kpageflags for ``pages``).

    sudo .venv/bin/python benchmarks/bench_live.py [--mib 512] [--runs 7]
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEMLENS = str(ROOT / ".venv" / "bin" / "memlens")


def timed(cmd: list[str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in KiB, user+system CPU seconds) of one run, output to
    /dev/null.  CPU time says more than wall time on a loaded machine, where a command
    also waits for a CPU."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return time.perf_counter() - t0, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    compileall.compile_dir(str(ROOT / "src" / "memlens"), quiet=1)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        hold_exe = Path(tmp) / "hold"
        subprocess.run(["gcc", "-O2", "-o", str(hold_exe), str(HERE / "hold.c")], check=True)
        hold = subprocess.Popen([str(hold_exe), str(args.mib)], stdout=subprocess.PIPE)
        try:
            assert hold.stdout is not None and hold.stdout.readline().strip() == b"ready"
            pid = str(hold.pid)
            core = str(Path(tmp) / "x.core")
            pairs: list[tuple[str, list[str], str, list[str] | None]] = [
                ("memlens maps PID", [MEMLENS, "maps", pid], "pmap -X PID",
                 ["pmap", "-X", pid] if shutil.which("pmap") else None),
                ("memlens procs", [MEMLENS, "procs"], "smem",
                 ["smem"] if shutil.which("smem") else None),
                ("memlens pages PID --json", [MEMLENS, "pages", pid, "--json"],
                 "memlens pages PID (text)", [MEMLENS, "pages", pid]),
                ("memlens snapshot PID", [MEMLENS, "snapshot", pid, "-o", core], "", None),
            ]  # fmt: skip
            times: dict[str, list[float]] = {}
            cpu: dict[str, list[float]] = {}
            peak: dict[str, int] = {}
            for _ in range(args.runs):
                for ours, cmd, peer, peer_cmd in pairs:
                    for name, c in ((ours, cmd), (peer, peer_cmd)):
                        if c is None:
                            continue
                        wall, rss, used = timed(c)
                        times.setdefault(name, []).append(wall)
                        cpu.setdefault(name, []).append(used)
                        peak[name] = max(peak.get(name, 0), rss)
        finally:
            hold.kill()
            hold.wait()
    after = os.getloadavg()
    print(f"{os.uname().machine}, {os.cpu_count()} CPUs, {args.mib} MiB held, {args.runs} runs, "
          f"load average {load[0]:.1f} before, {after[0]:.1f} after\n")  # fmt: skip
    print("| command | median s | min-max s | peak RSS MiB | peer | peer median s "
          "| peer min-max s | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for ours, _, peer, peer_cmd in pairs:
        a = times[ours]
        row = (f"| `{ours}` | {statistics.median(a):.3f} | {min(a):.3f}-{max(a):.3f} "
               f"| {peak[ours] / 1024:.0f} |")  # fmt: skip
        if peer_cmd is not None:
            b = times[peer]
            ratio = statistics.median(a) / statistics.median(b)
            row += (f" `{peer}` | {statistics.median(b):.3f} | {min(b):.3f}-{max(b):.3f} |"
                    f" {ratio:.2f}x |")  # fmt: skip
        else:
            row += " | | | |"
        print(row)
    print("\nCPU time (user + system), median s:\n")
    print("| command | CPU | peer CPU | ratio |")
    print("|---|---|---|---|")
    for ours, _, peer, peer_cmd in pairs:
        mine = statistics.median(cpu[ours])
        if peer_cmd is None:
            print(f"| `{ours}` | {mine:.3f} | | |")
            continue
        theirs = statistics.median(cpu[peer])
        print(f"| `{ours}` | {mine:.3f} | {theirs:.3f} | {mine / theirs:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

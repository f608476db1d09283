"""``memlens run -- CMD``: run a program under the allocation shim and report its heap."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from importlib import resources

from memlens.analyses.regions import region_rows, totals_by_kind
from memlens.cli.commands.heap import emit
from memlens.cli.exitcodes import ExitCode
from memlens.cli.output import make_output_dir
from memlens.cli.target import parse_int
from memlens.core.snapshot import Snapshot
from memlens.errors import UsageError
from memlens.heap.report import Filters, build_report, symbolize_with
from memlens.heap.runner import RunOptions, SnapshotTaken, run_under_shim
from memlens.heap.symbolize import symbolizer_for_profile
from memlens.render.table import Column, Table, print_table
from memlens.render.units import human_size

NAME = "run"
HELP = "run a command under the allocation shim; report its heap at exit (the main job)"
DESCRIPTION = """\
Run CMD with memlens's allocation shim preloaded.  Heap snapshots are taken at
exit, on SIGUSR2, every --every seconds and on a crash (SIGSEGV, SIGBUS,
SIGFPE, SIGILL, SIGABRT); each is saved as a .mlheap file in --out.  At the end
the last snapshot's heap report (live bytes by call stack), the region /
residency summary and an HTML flame graph are written.  With no CMD a small
built-in demo program runs.

  memlens run -- ./server --port 8080
  memlens run --every 5 --sample 524288 -- python3 app.py
  memlens heap memlens-run/001-exit.mlheap --as pprof -o heap.pb.gz
"""
EXAMPLES = (
    "memlens run -- ./server --port 8080",
    "memlens run --every 5 --out /tmp/app-heap -- python3 app.py",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD",
                        help="the program and its arguments (default: the demo)")  # fmt: skip
    parser.add_argument("--out", help="directory for snapshots and the HTML report "
                        "(default memlens-run-DATE-TIME)")  # fmt: skip
    parser.add_argument("--every", type=float, help="also snapshot every SECONDS")
    parser.add_argument("--sample", type=parse_int, default=0, metavar="BYTES",
                        help="sample stacks, one per BYTES allocated on average "
                        "(Poisson; totals stay estimates); default: every block")  # fmt: skip
    parser.add_argument("--frames", type=int, default=None,
                        help="stack depth in words (1-64; default 16, or 64 in a Python "
                        "interpreter, where a Python frame takes two words)")  # fmt: skip
    parser.add_argument("--unwind", choices=("auto", "libunwind", "gcc", "fp"), default="auto",
                        help="unwinder: libunwind when installed, else libgcc; fp for "
                        "programs built with frame pointers")  # fmt: skip
    parser.add_argument("--no-crash", action="store_true", help="do not catch crash signals")
    parser.add_argument("--core", action="store_true",
                        help="also write an ELF core of the process at each snapshot")  # fmt: skip
    parser.add_argument("--top", type=int, default=10, help="stacks in the printed report")
    parser.add_argument("--native", action="store_true",
                        help="Python: record and show every native frame too (default: the "
                        "Python frames and the native frames below the innermost one)")  # fmt: skip
    parser.add_argument("--no-pymalloc", action="store_true",
                        help="Python: run with PYTHONMALLOC=malloc, so every object is a block "
                        "with its own stack (default: pymalloc's arenas are blocks, each under "
                        "the stack that opened it)")  # fmt: skip
    parser.add_argument("--html", help="where to write the HTML report (default OUT/heap.html)")


def demo_command(out_dir: str) -> list[str]:
    """The built-in workload: the shipped C demo, compiled here when gcc exists."""
    src = str(resources.files("memlens.shim").joinpath("demo.c"))
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc and os.path.exists(src):
        exe = os.path.join(out_dir, "memlens-demo")
        done = subprocess.run([gcc, "-O1", "-g", "-o", exe, src], capture_output=True)
        if done.returncode == 0:
            return [exe]
    code = (
        "rows = [bytearray(1000 + i % 300) for i in range(4000)]\n"
        "cache = bytearray(3 << 20)\n"
        "print('demo: python', len(rows), len(cache))\n"
    )
    return [sys.executable, "-c", code]


def region_summary(snap: Snapshot) -> Table:
    totals = totals_by_kind(region_rows(snap, snap.regions), snap.page_size)
    table = Table([Column("kind"), Column("regions", "right"), Column("mapped", "right"),
                   Column("resident", "right"), Column("swapped", "right")],
                  title=f"regions of pid {snap.pid}")  # fmt: skip
    for t in totals:
        table.add(t.kind, str(t.regions), human_size(t.mapped), human_size(t.resident),
                  human_size(t.swapped))  # fmt: skip
    table.footer = ["total", str(sum(t.regions for t in totals)),
                    human_size(sum(t.mapped for t in totals)),
                    human_size(sum(t.resident for t in totals)),
                    human_size(sum(t.swapped for t in totals))]  # fmt: skip
    return table


def run(args: argparse.Namespace) -> int:
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if args.frames is not None and not 1 <= args.frames <= 64:
        raise UsageError("--frames must be between 1 and 64")
    out_dir = args.out or time.strftime("memlens-run-%Y%m%d-%H%M%S")
    make_output_dir(out_dir)
    if not cmd:
        cmd = demo_command(out_dir)
        print(f"memlens: no command given; running the demo: {' '.join(cmd)}", file=sys.stderr)
    opts = RunOptions(out_dir=out_dir, every=args.every, sample=args.sample, frames=args.frames,
                      unwind=args.unwind, crash=not args.no_crash, core=args.core,
                      pymalloc=not args.no_pymalloc, native=args.native)  # fmt: skip
    summaries: dict[str, Table] = {}

    def on_snapshot(taken: SnapshotTaken, snap: Snapshot) -> None:
        summaries[taken.path] = region_summary(snap)
        print(f"memlens: snapshot at {taken.reason}: {len(taken.profile.blocks)} blocks, "
              f"{taken.profile.blocks.total_bytes} bytes -> {taken.path}",
              file=sys.stderr)  # fmt: skip

    result = run_under_shim(cmd, opts, on_snapshot)
    final = result.final
    status = _status(result.returncode)
    if final is None:
        print(f"memlens: {cmd[0]} {status}; no heap snapshot was taken", file=sys.stderr)
        return ExitCode.ERROR
    sys.stdout.flush()
    procs = f" of {len(result.pids)} processes" if len(result.pids) > 1 else ""
    print(f"\n== {' '.join(cmd)}: {status}; {len(result.snapshots)} snapshot(s){procs} "
          f"in {out_dir}; report of pid {final.pid} at {final.reason}")  # fmt: skip
    profile = final.profile
    full = build_report(profile, symbolize_with(symbolizer_for_profile(profile)),
                        Filters(native=args.native))  # fmt: skip
    emit(replace(full, groups=full.groups[: args.top]), "text", None)
    print()
    print_table(summaries[final.path])
    html = args.html or os.path.join(out_dir, "heap.html")
    emit(full, "html", html)
    print(f"\nHTML flame graph: {html}\nheap snapshot: {final.path} "
          f"(memlens heap {final.path} --as pprof|speedscope|tree|json|html)")  # fmt: skip
    return ExitCode.OK if not result.errors else ExitCode.PARTIAL


def _status(code: int) -> str:
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit status {code}"

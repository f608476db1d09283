"""``memlens run -- CMD``: run a program under the allocation shim and report its heap."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from importlib import resources
from typing import TYPE_CHECKING, TextIO

from memlens.cli.output import make_output_dir, output_text
from memlens.errors import UsageError
from memlens.heap.runner import RunOptions, RunResult, Tracked, run_under_shim

if TYPE_CHECKING:
    from memlens.heap.run_report import RunReport
    from memlens.symbols.modmap import ModuleFile

#: What the report needs once the program ended: imported while it runs
#: (run_under_shim's preload), not before it starts.
REPORT_MODULES = (
    "memlens.heap.table_report", "memlens.render.runhtml", "memlens.render.runjson",
    "memlens.render.runtext", "memlens.render.pprof", "memlens.symbols.chain",
)  # fmt: skip

NAME = "run"
HELP = "run a command under the allocation shim; report peak, leaks, churn and memory over time"
DESCRIPTION = """\
Run CMD with memlens's allocation shim preloaded and report its heap when it
ends, whatever way it ends (exit, _exit, a signal, SIGKILL): the peak heap and
when it happened, peak RSS, allocation/free/temporary counts, what was never
freed, then the stacks behind each (peak contributors, leaks, most calls, most
temporary allocations, largest total allocated).  The report goes to stderr
(or --report FILE); the program's own output is untouched and memlens exits
with the program's status (128+N when it was killed by signal N).

Files in --out: the accounting tables (PID-K.mlstats), heap snapshots
(.mlheap, at exit, on --every and on request), report.html, report.json and
heap.pb.gz (pprof, every sample type).  With no CMD a small built-in demo runs.

  memlens run -- ./server --port 8080
  memlens run --sample 524288 --top 5 -- python3 app.py
  memlens run --report report.txt -- sort big.txt > sorted.txt
"""
EXAMPLES = (
    "memlens run -- ./server --port 8080",
    "memlens run --report report.txt --top 5 -- sort big.txt",
)


def seconds(flag: str, text: str | None) -> float | None:
    """A ``--every``/``--interval`` value: a positive, finite number of seconds.

    Raises:
        UsageError: anything else (one line, no usage dump).
    """
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}: not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise UsageError(f"{flag} must be a positive number of seconds, not {text}")
    return value


def at_least_one(flag: str, text: str | None) -> int | None:
    """A ``--sample``/``--top`` value: an integer >= 1.

    Raises:
        UsageError: anything else.
    """
    if text is None:
        return None
    from memlens.cli.target import parse_int

    try:
        value = parse_int(text)
    except (ValueError, argparse.ArgumentTypeError):
        raise UsageError(f"{flag}: not an integer: {text!r}") from None
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD",
                        help="the program and its arguments (default: the demo)")  # fmt: skip
    parser.add_argument("--out", help="directory for tables, snapshots and reports "
                        "(default memlens-run-DATE-TIME)")  # fmt: skip
    parser.add_argument("--every", metavar="SECONDS",
                        help="also snapshot the live blocks every SECONDS (no signal; "
                        "rate-limited so the program keeps >= 90%% of its time)")  # fmt: skip
    parser.add_argument("--interval", default="0.01", metavar="SECONDS",
                        help="timeline sampling period (default 0.01)")  # fmt: skip
    parser.add_argument("--sample", metavar="BYTES",
                        help="sample stacks, one per BYTES allocated on average "
                        "(Poisson); default: a stack for every block")  # fmt: skip
    parser.add_argument("--frames", type=int, default=None,
                        help="stack depth in words (1-64; default 16, or 64 in a Python "
                        "interpreter, where a Python frame takes two words)")  # fmt: skip
    parser.add_argument("--native", action="store_true",
                        help="Python: record and show every native frame too (default: the "
                        "Python frames and the native frames below the innermost one)")  # fmt: skip
    parser.add_argument("--no-pymalloc", action="store_true",
                        help="Python: run with PYTHONMALLOC=malloc, so every object is a block "
                        "with its own stack (default: pymalloc's arenas are blocks, each under "
                        "the stack that opened it)")  # fmt: skip
    parser.add_argument("--unwind", choices=("auto", "libunwind", "gcc", "fp"), default="auto",
                        help="unwinder: libunwind when installed, else libgcc; fp for "
                        "programs built with frame pointers")  # fmt: skip
    parser.add_argument("--no-crash", action="store_true", help="do not catch crash signals")
    parser.add_argument("--core", action="store_true",
                        help="also write an ELF core of the process at each snapshot")  # fmt: skip
    parser.add_argument("--follow-exec", action=argparse.BooleanOptionalAction, default=True,
                        help="track programs the command execs (default: yes)")  # fmt: skip
    parser.add_argument("--follow-fork", action="store_true",
                        help="track forked children too (each gets its own table)")  # fmt: skip
    parser.add_argument("--top", default="10", help="stacks per section (default 10)")
    parser.add_argument("--report", metavar="FILE", help="write the text report here, not stderr")
    parser.add_argument("-q", "--quiet", action="store_true", help="no text report")
    parser.add_argument("--html", help="where to write the HTML report (default OUT/report.html)")


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


def known_modules(result: RunResult, main: Tracked) -> list[ModuleFile]:
    """The modules memlens saw mapped in the main image, and those its snapshots saw."""
    seen = dict(main.modules)
    for snap in result.snapshots:
        if snap.pid == main.pid and snap.profile.loaded:
            for m in snap.profile.loaded:
                seen.setdefault((m.module.path, m.module.base), m)
    return sorted(seen.values(), key=lambda m: m.module.base)


def build_run_report(
    cmd: list[str], result: RunResult, *, native: bool = False
) -> RunReport | None:
    """The report of the image that did the work, every stack symbolized (JSON and pprof carry
    them all; one batch costs what the top few do), or None when nothing was tracked.
    Python frames are named as the run read them from the live process."""
    from memlens.heap.pyframes import PyFrame, table_from_rows
    from memlens.heap.run_report import exit_status
    from memlens.heap.table_report import report_from_table

    main = result.main
    if main is None:
        return None
    status, text = exit_status(result.returncode)
    python: dict[tuple[int, int], PyFrame] = {}
    for snap in result.snapshots:
        python.update(table_from_rows(snap.profile.extra.get("python_frames")))
    python.update(main.python)  # named while the program ran: its code objects were alive
    return report_from_table(
        main.table, command=cmd, status=status, status_text=text, runtime=result.runtime,
        timeline=main.timeline, known_modules=known_modules(result, main),
        processes=len(result.tracked), python=python, native=native,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if args.frames is not None and not 1 <= args.frames <= 64:
        raise UsageError("--frames must be between 1 and 64")
    every, interval = seconds("--every", args.every), seconds("--interval", args.interval)
    sample, top = at_least_one("--sample", args.sample) or 0, at_least_one("--top", args.top)
    assert interval is not None and top is not None  # both have defaults
    out_dir = args.out or time.strftime("memlens-run-%Y%m%d-%H%M%S")
    html = args.html or os.path.join(out_dir, "report.html")
    with ExitStack() as files:
        # Every place memlens writes is checked before the program runs: a typo
        # must not cost a long run its report.
        make_output_dir(out_dir)
        html_file = files.enter_context(output_text(html))
        report_file: TextIO = sys.stderr  # stdout is the program's
        if args.report:
            report_file = files.enter_context(output_text(args.report))
        if not cmd:
            cmd = demo_command(out_dir)
            print(f"memlens: no command given; running the demo: {' '.join(cmd)}",
                  file=sys.stderr)  # fmt: skip
        opts = RunOptions(out_dir=out_dir, every=every, sample=sample, frames=args.frames,
                          unwind=args.unwind, crash=not args.no_crash, core=args.core,
                          interval=interval, follow_exec=args.follow_exec,
                          follow_fork=args.follow_fork, native=args.native,
                          pymalloc=not args.no_pymalloc)  # fmt: skip
        result = run_under_shim(cmd, opts, preload=REPORT_MODULES)
        files.callback(result.close)
        from memlens.heap.run_report import exit_status
        from memlens.render import runhtml, runjson, runtext
        from memlens.render.pprof import write_run as write_pprof

        report = build_run_report(cmd, result, native=args.native)
        status, text = exit_status(result.returncode)
        if report is None:
            print(f"memlens: {cmd[0]} {text}; no allocation was recorded (a static program, "
                  "or it never ran)", file=sys.stderr)  # fmt: skip
            return status
        runhtml.write(report, html_file, top)
        with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
            runjson.write(report, f, None, indent=False)
        write_pprof(report, os.path.join(out_dir, "heap.pb.gz"))
        if not args.quiet:
            runtext.write(report, report_file, top)
            _write_files(result, out_dir, html, report_file)
        for problem in result.errors:
            print(f"memlens: {problem}", file=sys.stderr)
        return status


def _write_files(result: RunResult, out_dir: str, html: str, out: TextIO) -> None:
    snaps = len(result.snapshots)
    out.write(f"\nreports: {html}, {os.path.join(out_dir, 'report.json')}, "
              f"{os.path.join(out_dir, 'heap.pb.gz')}")  # fmt: skip
    if snaps:
        out.write(f"\n{snaps} heap snapshot(s) in {out_dir} (memlens heap FILE.mlheap for the "
                  "live blocks of that moment)")  # fmt: skip
    out.write("\n")
    if result.interrupted:
        out.write("memlens: interrupted: SIGINT was forwarded to the program\n")

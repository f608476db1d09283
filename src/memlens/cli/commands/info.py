"""``memlens info``: what a target is -- format, machine, process, threads, modules, totals."""

from __future__ import annotations

import argparse

from memlens.analyses.summary import summarize
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import add_target_arguments, open_from_args
from memlens.core.snapshot import Snapshot
from memlens.errors import MemlensError
from memlens.render import jsonout
from memlens.render.info_text import print_text, to_json
from memlens.unwind.stackframe import ThreadStack

NAME = "info"
HELP = "what a target is: format, arch, process, threads, crash, modules, region totals"
EXAMPLES = (
    "memlens info core.1234",
    "memlens info crash.dmp --json",
)



def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list every register, note and format-specific fact")
    parser.add_argument("--registers", action="store_true",
                        help="every register of every thread, floating-point and vector too")
    parser.add_argument("--no-backtrace", action="store_true",
                        help="skip the crashed thread's backtrace (no symbols are loaded)")
    parser.add_argument("--symbols", action="append", default=[], metavar="STORE",
                        help="Breakpad symbol store for the backtrace (repeatable)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    with open_from_args(args) as snap:
        summary = summarize(snap)
        trace = None if args.no_backtrace else _crashed_backtrace(snap, args.symbols)
        if args.json:
            jsonout.dump("info", to_json(summary, trace))
        else:
            print_text(summary, verbose=args.verbose, backtrace=trace,
                       registers=args.registers)  # fmt: skip
    return ExitCode.OK


def _crashed_backtrace(snap: Snapshot, symbols: list[str]) -> ThreadStack | None:
    """The crashed thread's stack, for a target that crashed (cores, minidumps)."""
    crashed = [t.tid for t in snap.threads if t.crashed and t.registers]
    if snap.crash is None or not crashed:
        return None
    from memlens.analyses.stack import stack_report

    try:
        report = stack_report(snap, symbol_dirs=symbols, threads=crashed[:1])
    except MemlensError:
        return None
    return report.threads[0] if report.threads else None



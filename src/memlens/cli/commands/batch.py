"""``memlens batch``: many dumps analysed on Dask into one Parquet dataset, and its report."""

from __future__ import annotations

import argparse
import sys

from memlens.cli.exitcodes import ExitCode
from memlens.errors import UsageError

NAME = "batch"
HELP = "analyse many dumps (files, folders, globs; .gz/.bz2/.xz/.zst) into Parquet tables"
DESCRIPTION = """\
ANALYSIS is info (crash, the crashed thread's stack, its signature), stack
(every thread), heap (shim records), leaks (glibc heap by reachability) or
mpy.  Each chunk of inputs is a Dask task (local worker processes by default,
--scheduler ADDRESS for a dask.distributed cluster) and its rows are stored
under OUT, keyed by the input's content: a rerun does only what is not done
yet.  A file that cannot be read is a row of the errors table, not a failed
run.  `memlens batch report OUT` prints the fleet's crash signatures, heap
sites, leaks, growth (--baseline OLD) and MicroPython types.  The tables are
OUT/TABLE/*.parquet (docs/batch.md)."""
EXAMPLES = (
    "memlens batch info crashes/ 'more/*.dmp.gz' -o fleet",
    "memlens batch report fleet --baseline fleet-last-week",
)

ANALYSES = ("info", "stack", "heap", "leaks", "mpy", "report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", choices=ANALYSES, help="what to compute per input")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders or globs (report: the dataset folder)")  # fmt: skip
    parser.add_argument("-o", "--out", help="dataset folder (created; reused to resume)")
    parser.add_argument("--workers", type=int, help="local worker processes (default: CPUs)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a dask.distributed scheduler, e.g. tcp://10.0.0.5:8786")  # fmt: skip
    parser.add_argument("--chunk", type=int, default=16, help="inputs per task (default 16)")
    parser.add_argument("--symbols", action="append", default=[], metavar="STORE",
                        help="Breakpad symbol store, NAME/DEBUGID/NAME.sym (repeatable)")
    parser.add_argument("--baseline", metavar="OLD", help="report: growth over this dataset")
    parser.add_argument("--top", type=int, default=20, help="report: rows per section")
    parser.add_argument("--json", action="store_true", help="report as JSON")


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rmemlens batch: {done}/{total} tasks")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from memlens.batch.aggregate import fleet_report
    from memlens.render import fleet, jsonout

    if args.analysis == "report":
        if len(args.inputs) != 1:
            raise UsageError("batch report takes one dataset folder")
        report = fleet_report(args.inputs[0], top=args.top, baseline=args.baseline)
        if args.json:
            jsonout.dump("batch-report", fleet.report_json(report))
        else:
            fleet.print_report(report)
        return ExitCode.OK
    if not args.out:
        raise UsageError("batch needs -o OUT, the dataset folder")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    from memlens.batch.scheduler import run_batch

    result = run_batch(
        args.analysis, args.inputs, args.out, workers=args.workers, scheduler=args.scheduler,
        chunk_size=args.chunk, progress=_progress if sys.stderr.isatty() else None,
        symbol_dirs=args.symbols,
    )  # fmt: skip
    print(f"{result.inputs} inputs: {result.analysed} analysed, {result.skipped} already done, "
          f"{result.errors} unreadable (see {args.out}/errors)", file=sys.stderr)  # fmt: skip
    if not args.json:
        fleet.print_report(fleet_report(args.out, top=args.top))
    return ExitCode.OK

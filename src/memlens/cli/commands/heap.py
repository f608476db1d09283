"""``memlens heap``: live heap blocks recorded by the allocation shim, grouped by call stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from memlens.cli.exitcodes import ExitCode
from memlens.cli.output import output_text, write_output
from memlens.cli.target import NothingMatched, add_target_arguments, open_from_args, parse_int
from memlens.errors import UsageError
from memlens.heap import profile_file
from memlens.heap.diff import HeapDiff, diff_reports
from memlens.heap.load import load_profile
from memlens.heap.model import HeapProfile
from memlens.heap.moments import MOMENT_HELP, diff_moments, parse_moment, sample_at
from memlens.heap.report import Filters, HeapReport, build_report, symbolize_with
from memlens.heap.run_file import load_run
from memlens.heap.run_report import RunReport
from memlens.heap.stats_table import StatsTable, is_stats_file
from memlens.heap.symbolize import symbolizer_for_profile
from memlens.heap.table_report import report_from_table
from memlens.render import flamehtml, heapjson, momentdiff, pprof, runjson, runtext, speedscope
from memlens.render.heaptext import folded_lines as _folded
from memlens.render.heaptext import frame_line, write_flat, write_tree

NAME = "heap"
HELP = "live heap blocks grouped by allocation stack (needs the shim: see 'memlens run')"
DESCRIPTION = """\
Find the allocation shim's block records in TARGET -- a live PID (read through
/proc without stopping it; --freeze to stop it while reading), an ELF core
(kernel or gdb gcore), or a memlens heap snapshot (.mlheap, written by
'memlens run') -- group live blocks by identical call stack and sort by bytes.
A stats table (PID-K.mlstats, in 'memlens run --out') gives the run's report
instead: peak, leaks, calls, temporary allocations (text or json).

  memlens heap 1234
  memlens heap core.1234 --as html -o heap.html
  memlens heap diff before.mlheap after.mlheap
  memlens heap diff memlens-run-X --from 1.2s --to peak   (two moments of a run)
  memlens heap memlens-run-X/4242-0.mlstats --top 5
"""
EXAMPLES = (
    "memlens heap 1234 --top 20",
    "memlens heap diff memlens-run --from 1.2s --to 3.4s",
)

FORMATS = ("text", "tree", "folded", "pprof", "speedscope", "json", "html")
BINARY = ("pprof",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "more", nargs="*", metavar="B",
        help="with TARGET 'diff': the two snapshots A B to compare, or one 'memlens run' "
        "output directory (or its report.json) and --from/--to",
    )  # fmt: skip
    moments = parser.add_argument_group("heap diff OUT: two moments of a run's timeline")
    moments.add_argument("--from", dest="moment_from", metavar="MOMENT", default=None,
                         help=f"the earlier moment: {MOMENT_HELP} (default start)")  # fmt: skip
    moments.add_argument("--to", dest="moment_to", metavar="MOMENT", default=None,
                         help="the later moment (default end)")  # fmt: skip
    out = parser.add_argument_group("output")
    out.add_argument("--as", dest="output_format", choices=FORMATS, default="text",
                     help="report format (default text)")  # fmt: skip
    out.add_argument("-o", "--output", help="write the report to this file")
    out.add_argument("--top", type=int, default=None, help="only the N largest stacks")
    out.add_argument("--min-size", type=parse_int, default=0, help="only blocks of >= N bytes")
    out.add_argument("--module", action="append", default=[],
                     help="only stacks with a frame in a module whose path has this")  # fmt: skip
    out.add_argument("--function", action="append", default=[],
                     help="only stacks with a frame whose function name has this")  # fmt: skip
    out.add_argument("--no-symbols", action="store_true", help="print raw addresses")
    out.add_argument("--native", action="store_true",
                     help="Python stacks: every native frame recorded (memlens run --native "
                     "records them; default: the Python frames and the native frames below "
                     "the innermost one)")  # fmt: skip
    out.add_argument("--debug-dir", action="append", default=[],
                     help="extra directory of separate debug files")  # fmt: skip
    out.add_argument("--save", metavar="FILE",
                     help="also save the heap as a memlens heap snapshot (.mlheap)")  # fmt: skip


def filters_from(args: argparse.Namespace) -> Filters:
    return Filters(
        min_size=args.min_size,
        modules=tuple(args.module),
        functions=tuple(args.function),
        top=args.top,
        native=args.native,
    )


def report_for(profile: HeapProfile, args: argparse.Namespace) -> HeapReport:
    sym = None if args.no_symbols else symbolize_with(
        symbolizer_for_profile(profile, args.debug_dir)
    )  # fmt: skip
    return build_report(profile, sym, filters_from(args))


def emit(report: HeapReport, fmt: str, output: str | None) -> None:
    """Write ``report`` in ``fmt`` to ``output`` (a path) or stdout."""
    if fmt in BINARY:
        data = pprof.encode(report)
        import gzip

        blob = gzip.compress(data, compresslevel=6, mtime=0)
        if output:
            write_output(output, blob)
        elif sys.stdout.isatty():
            raise UsageError("pprof output is binary: use -o FILE or a pipe")
        else:
            sys.stdout.buffer.write(blob)
        return
    writers: dict[str, Callable[[HeapReport, TextIO], None]] = {
        "text": write_flat,
        "tree": write_tree,
        "folded": _write_folded,
        "speedscope": speedscope.write,
        "json": heapjson.write,
        "html": flamehtml.write,
    }
    if output:
        with output_text(output) as f:
            writers[fmt](report, f)
    else:
        writers[fmt](report, sys.stdout)


def _write_folded(report: HeapReport, out: TextIO) -> None:
    out.write("".join(line + "\n" for line in _folded(report.groups)))


def run(args: argparse.Namespace) -> int:
    if args.target == "diff":
        if len(args.more) == 1 or args.moment_from or args.moment_to:
            return run_moment_diff(args)
        return run_diff(args)
    if args.moment_from or args.moment_to:
        raise UsageError("--from/--to go with 'memlens heap diff OUT'")
    if args.more:
        raise UsageError(f"unexpected arguments: {' '.join(args.more)}")
    if is_stats_file(args.target):
        return run_table(args)
    profile = load_profile(args.target, lambda t: open_from_args(args, t))
    if args.save:
        write_output(args.save, profile_file.dumps(profile))
    report = report_for(profile, args)
    given = [f"--module {m}" for m in args.module] + [f"--function {f}" for f in args.function]
    if args.min_size:
        given.append(f"--min-size {args.min_size}")
    if given and report.total_count and not report.groups:
        raise NothingMatched(" ".join(given), f"none of the {report.total_count} blocks matches")
    emit(report, args.output_format, args.output)
    if report.total_count == 0:
        print("memlens: no shim records found (was the program run under 'memlens run' "
              "or LD_PRELOAD=libmemlens_shim.so?)", file=sys.stderr)  # fmt: skip
        return ExitCode.PARTIAL
    return ExitCode.OK


def run_table(args: argparse.Namespace) -> int:
    """``memlens heap OUT/PID-K.mlstats``: the run's report from its table, after the fact."""
    if args.output_format not in ("text", "json"):
        raise UsageError("a stats table (.mlstats) reports as --as text or json")
    with StatsTable(args.target) as table:
        t = table.totals()
        ended = "exited" if t.exit_ns else "no exit handler ran (killed, _exit, or running)"
        runtime = max(t.exit_ns - t.start_ns, 0) / 1e9 if t.exit_ns else 0.0
        report = report_from_table(
            table, command=[args.target], status=0, status_text=ended, runtime=runtime,
        )  # fmt: skip
    top = args.top or 10
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            _write_run(report, args.output_format, f, top)
    else:
        _write_run(report, args.output_format, sys.stdout, top)
    return ExitCode.OK


def _write_run(report: RunReport, fmt: str, out: TextIO, top: int) -> None:
    if fmt == "json":
        runjson.write(report, out, top)
    else:
        runtext.write(report, out, top)


def run_diff(args: argparse.Namespace) -> int:
    if len(args.more) != 2:
        raise UsageError("usage: memlens heap diff A B")
    a, b = (load_profile(t, lambda t: open_from_args(args, t)) for t in args.more)
    top = args.top
    args.top = None
    ra, rb = report_for(a, args), report_for(b, args)
    d = diff_reports(ra, rb)
    write_diff(d, sys.stdout, top)
    return ExitCode.OK


def run_moment_diff(args: argparse.Namespace) -> int:
    """``memlens heap diff OUT --from A --to B``: the stacks that grew between two moments."""
    if len(args.more) != 1:
        raise UsageError("usage: memlens heap diff OUT --from MOMENT --to MOMENT")
    if args.output_format not in ("text", "json"):
        raise UsageError("a diff of two moments reports as --as text or json")
    a, b = parse_moment(args.moment_from or "start"), parse_moment(args.moment_to or "end")
    run = load_run(args.more[0])
    d = diff_moments(run.timeline, run.aliases, sample_at(run.timeline, a),
                     sample_at(run.timeline, b))  # fmt: skip
    write = momentdiff.write_json if args.output_format == "json" else momentdiff.write_text
    if args.output:
        with output_text(args.output) as f:
            write(run, d, f, args.top)
    else:
        write(run, d, sys.stdout, args.top)
    return ExitCode.OK


def write_diff(d: HeapDiff, out: TextIO, top: int | None = None) -> None:
    out.write(
        f"heap: {d.total_before} -> {d.total_after} bytes ({d.total_after - d.total_before:+d}), "
        f"{d.blocks_before} -> {d.blocks_after} blocks ({d.blocks_after - d.blocks_before:+d})\n"
    )
    for s in d.sites[:top]:
        out.write(f"{round(s.bytes_delta):+d} bytes {round(s.count_delta):+d} blocks "
                  f"({round(s.bytes_before)} -> {round(s.bytes_after)})\n")  # fmt: skip
        for f in s.frames:
            out.write(f"    {frame_line(f)}\n")

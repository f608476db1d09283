"""``memlens leaks``: glibc heap walk + reachability, leaks classed like valgrind's memcheck."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

from memlens.cli.exitcodes import ExitCode
from memlens.cli.output import output_text
from memlens.cli.target import add_target_arguments, open_from_args

NAME = "leaks"
HELP = "leaked heap blocks of any glibc program, by reachability (no shim needed)"
DESCRIPTION = """\
Walk glibc malloc's heap in TARGET -- a live PID (read without stopping it;
--freeze to stop it while reading), an ELF core (kernel or gdb gcore) or a
memlens snapshot -- check it as glibc's own asserts would, then scan the roots
(registers, stacks from their stack pointer, writable data, .bss, TLS) for
pointers into the in-use blocks and class every block as valgrind's memcheck
does: definitely lost, indirectly lost, possibly lost, still reachable.
Leaked blocks are grouped by size and signature (a C++ object's class).
--heap adds the heap's usage: in-use bytes by size class, free bytes by list,
fragmentation and top per arena, and what malloc_trim(0) could give back.
"""

EXAMPLES = (
    "memlens leaks 1234 --top 20",
    "memlens leaks core.1234 --heap --json -o leaks.json",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--as", dest="output_format", choices=("text", "json"), default="text",
                     help="report format (default text)")  # fmt: skip
    out.add_argument("--json", dest="output_format", action="store_const", const="json",
                     help="the same as --as json")  # fmt: skip
    out.add_argument("-o", "--output", help="write the report to this file")
    out.add_argument("--top", type=int, default=None, help="only the N largest groups")
    out.add_argument("--show-reachable", action="store_true",
                     help="group still-reachable blocks too")  # fmt: skip
    out.add_argument("--heap", action="store_true",
                     help="also the heap's usage: size classes, free lists, arenas, trim")


def run(args: argparse.Namespace) -> int:
    from memlens.glibc.leakreport import leak_report
    from memlens.glibc.usage import heap_usage
    from memlens.render.jsonout import dump
    from memlens.render.leaks_heap import usage_payload, write_usage
    from memlens.render.leaks_json import payload
    from memlens.render.leaks_text import write_text

    with open_from_args(args) as snap:
        report = leak_report(snap, reachable_groups=args.show_reachable)
    usage = heap_usage(report.walk) if args.heap else None
    with output_text(args.output) if args.output else nullcontext(sys.stdout) as stream:
        if args.output_format == "json":
            doc = payload(report)
            if usage is not None:
                doc["heap"] = usage_payload(usage)
            dump("leaks", doc, stream)
        else:
            write_text(report, stream, top=args.top)
            if usage is not None:
                write_usage(usage, stream)
    if report.partial:
        print("memlens: heap damaged or partly unreadable: the report covers what was walked",
              file=sys.stderr)  # fmt: skip
        return ExitCode.PARTIAL
    return ExitCode.OK

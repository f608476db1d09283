"""``memlens snapshot``: write a live process as an ELF core gdb opens, with page state."""

from __future__ import annotations

import argparse

from memlens.cli.exitcodes import ExitCode
from memlens.errors import UsageError
from memlens.render.units import human_size
from memlens.sources.live.coredump import snapshot_process
from memlens.sources.live.pid import parse_pid

NAME = "snapshot"
HELP = "write a live process to an ELF core (gdb opens it; memlens keeps its residency)"
DESCRIPTION = """\
Write PID as an ELF core: the pages of every readable mapping that pagemap shows
present (no other page is read, so nothing is faulted in), NT_FILE, NT_PRPSINFO,
NT_AUXV, NT_PRSTATUS per thread, and MEMLENS notes with each page's pagemap entry
(and kpageflags/kpagecount when readable) and the runs of pages saved.  Pages of
private anonymous memory never touched are zeros, saved unread; other pages not
present are holes gdb reads as zeros and memlens as not saved.  The threads are
stopped with ptrace only while the copy is made and are always resumed."""
EXAMPLES = (
    "memlens snapshot 1234 -o core.1234",
    "memlens snapshot 1234 -o core.1234 --no-stop",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="PID", help="the process to snapshot")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="core file to write")
    parser.add_argument("--no-stop", action="store_true",
                        help="do not stop threads (no registers; memory may change)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    pid = parse_pid(args.target)
    if pid is None:
        raise UsageError(f"snapshot needs a PID, not {args.target!r}")
    r = snapshot_process(pid, args.output, stop=not args.no_stop)
    print(f"{r.path}: {r.regions} regions, {human_size(r.saved_bytes)} read from present pages "
          f"({human_size(r.file_size)} file, sparse), {r.threads} threads, registers "
          f"{r.registers}, {r.page_tables} page tables, {r.seconds:.2f} s")  # fmt: skip
    return ExitCode.OK

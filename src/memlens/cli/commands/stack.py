"""``memlens stack``: the stack of every thread -- why it crashed, where, and how we got there."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from memlens.analyses.stack import StackReport, stack_report
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import add_target_arguments, open_from_args
from memlens.core.snapshot import Snapshot
from memlens.render import jsonout
from memlens.render.stack_text import breakpad_text, bt_lines, machine_readable

NAME = "stack"
HELP = "backtraces of every thread (CFI, Breakpad .sym, frame pointers, scanning)"
DESCRIPTION = (
    "TARGET is a core, a minidump or a PID.  Frames are found by Breakpad STACK WIN / "
    "STACK CFI records (--symbols), DWARF CFI of the modules' files, frame pointers, and "
    "stack scanning as the last resort; each frame says how.  The text mirrors "
    "minidump_stackwalk; --bt prints gdb's 'thread apply all bt'; --json has the fields "
    "of minidump_stackwalk's machine-readable output.  A live process is stopped only "
    "while its registers and stacks are read (ptrace), and always resumed."
)


EXAMPLES = (
    "memlens stack crash.dmp --symbols ./symbols",
    "memlens stack core.1234 --bt",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--symbols", action="append", default=[], metavar="STORE",
                        help="Breakpad symbol store (NAME/DEBUGID/NAME.sym), repeatable")
    parser.add_argument("--exe", help="the executable, when the dump's path to it is not here")
    parser.add_argument("--sysroot", help="the target's files live under this directory")
    parser.add_argument("--debug-dir", action="append", default=[], metavar="DIR",
                        help="also look for separate debug files here (repeatable)")
    parser.add_argument("--thread", action="append", type=int, metavar="TID",
                        help="only this thread (repeatable)")
    parser.add_argument("--crashed", action="store_true", help="only the crashed thread")
    parser.add_argument("--no-scan", action="store_true",
                        help="never guess frames by scanning the stack")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable output")
    out.add_argument("--bt", action="store_true", help="gdb-like 'thread apply all bt'")


@contextmanager
def _registers_of_live(snap: Snapshot) -> Iterator[Snapshot]:
    """A live target's threads with registers, read with every thread stopped; the
    threads run again when the block ends (also on errors)."""
    if snap.format != "live" or snap.pid is None or snap.arch is None:
        yield snap
        return
    from memlens.sources.elfcore.registers import decode_registers, regset
    from memlens.sources.live.ptrace_stop import StoppedThreads

    regs = regset(snap.arch.name)
    prefix = "<" if snap.arch.byteorder == "little" else ">"
    with StoppedThreads(snap.pid) as stopped:
        threads = []
        for t in snap.threads:
            raw = stopped.registers(t.tid)
            word = snap.arch.word_size
            values = decode_registers(snap.arch.name, raw, word, prefix) if raw else {}
            threads.append(dataclasses.replace(t, registers=values,
                                               pc_reg=regs.pc if regs else None,
                                               sp_reg=regs.sp if regs else None))  # fmt: skip
        snap.threads = threads
        yield snap


def _report(args: argparse.Namespace, snap: Snapshot) -> StackReport:
    only = list(args.thread) if args.thread else None
    if args.crashed:
        only = [t.tid for t in snap.threads if t.crashed] or [t.tid for t in snap.threads[:1]]
    return stack_report(snap, symbol_dirs=args.symbols, exe=args.exe, sysroot=args.sysroot,
                        debug_dirs=args.debug_dir, scan=not args.no_scan,
                        threads=only)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    with open_from_args(args) as opened, _registers_of_live(opened) as snap:
        report = _report(args, snap)
    for warning in [*snap.warnings, *report.warnings]:
        if not warning.startswith("no stack walker"):
            print(f"memlens: warning: {warning}", file=sys.stderr)
    if not report.threads:
        why = next((w for w in report.warnings if w.startswith("no stack walker")),
                   "no thread with registers to walk")  # fmt: skip
        print(f"memlens: {args.target}: {why}", file=sys.stderr)
        return ExitCode.ERROR
    if args.json:
        jsonout.dump("stack", machine_readable(report))
    else:
        lines = bt_lines(report) if args.bt else breakpad_text(report)
        print("\n".join(lines))
    return ExitCode.OK

"""``memlens minidump FILE``: every stream of a minidump in full, like Breakpad's minidump_dump."""

from __future__ import annotations

import argparse
import sys

from memlens.analyses.minidump_streams import all_blocks, stream_keys
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import parse_int
from memlens.errors import UsageError
from memlens.render import jsonout
from memlens.render.minidump_text import blocks_json, write_text
from memlens.sources.minidump.dumpfile import Limits, MinidumpFile
from memlens.sources.minidump.reader import load  # noqa: F401 - registers every stream class

NAME = "minidump"
HELP = "print every stream of a minidump (Breakpad minidump_dump format)"
DESCRIPTION = """Print the header, the stream directory and every stream of a minidump in
full: threads with their CPU contexts and stacks, modules with CodeView ids,
memory regions as hex, exception, system and misc info, Linux and Crashpad
streams.  Unknown streams are listed with their type and size.  Problems the
reader worked around are printed to stderr."""
EXAMPLES = (
    "memlens minidump crash.dmp",
    "memlens minidump crash.dmp --stream thread_list --json",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a minidump (.dmp)")
    parser.add_argument("--stream", metavar="NAME",
                        help="only this stream: a name (thread_list, MD_LINUX_MAPS...) or type")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    for name in ("max_streams", "max_threads", "max_modules", "max_regions", "max_region_size"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=parse_int,
                            help=argparse.SUPPRESS)  # fmt: skip


def _select(name: str | None) -> int | None:
    if name is None:
        return None
    keys = stream_keys()
    if name.lower() in keys:
        return keys[name.lower()]
    try:
        return int(name, 0)
    except ValueError:
        known = ", ".join(sorted(k for k in keys if not k.startswith("md_")))
        raise UsageError(f"unknown stream {name!r}; known: {known}") from None


def run(args: argparse.Namespace) -> int:
    only = _select(args.stream)
    overrides = {k: getattr(args, k) for k in ("max_streams", "max_threads", "max_modules",
                                               "max_regions", "max_region_size")
                 if getattr(args, k) is not None}  # fmt: skip
    dump = MinidumpFile(args.file, Limits(**overrides))
    try:
        blocks = all_blocks(dump, only)
        if args.json:
            jsonout.dump("minidump", {"file": args.file, "byte_order": dump.order,
                                      "blocks": blocks_json(blocks),
                                      "warnings": dump.warnings})  # fmt: skip
        else:
            write_text(blocks, sys.stdout)
        for warning in dump.warnings:
            print(f"memlens: warning: {warning}", file=sys.stderr)
        unreadable = [str(b.lines[0].value) for b in blocks
                      if b.title and b.title[-1].endswith(": unreadable")]  # fmt: skip
        for error in unreadable:
            print(f"memlens: error: {error}", file=sys.stderr)
    finally:
        dump.close()
    return ExitCode.PARTIAL if unreadable else ExitCode.OK

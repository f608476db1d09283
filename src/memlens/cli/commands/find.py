"""``memlens find``: where a byte pattern, string or integer occurs in a target's memory."""

from __future__ import annotations

import argparse
import itertools
import sys

from memlens.analyses.address_names import describe_address
from memlens.analyses.search import hex_pattern, int_pattern, search
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import add_target_arguments, open_from_args, parse_int
from memlens.errors import UsageError
from memlens.render import jsonout
from memlens.render.units import hex_address

NAME = "find"
HELP = "search saved memory for bytes (hex), a string or an integer of the target's word size"
DESCRIPTION = """\
PATTERN is a string, or hex bytes when it starts with 0x.  --hex, --string and
--int say it explicitly; --int packs the value in the target's word size and
byte order (aligned to its size unless --align says otherwise)."""
EXAMPLES = (
    "memlens find core.1234 --string password",
    "memlens find 1234 --int 0xdeadbeef --count",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("pattern", metavar="PATTERN", nargs="?",
                        help="a string, or hex bytes with a 0x prefix")  # fmt: skip
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--hex", metavar="HEX", help="bytes as hex digits (48656c6c6f)")
    kind.add_argument("--string", metavar="TEXT", help="UTF-8 text")
    kind.add_argument("--int", metavar="VALUE", type=parse_int, dest="integer",
                      help="an integer of the target's word size and byte order")  # fmt: skip
    parser.add_argument("--int-size", type=int, choices=(1, 2, 4, 8),
                        help="bytes of --int (default: the target's word size)")  # fmt: skip
    parser.add_argument("--align", type=int, help="only matches at multiples of this")
    parser.add_argument("--max", type=int, default=100, help="stop after this many (default 100)")
    parser.add_argument("--count", action="store_true", help="print only the number of matches")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _pattern(args: argparse.Namespace, word: int, byteorder: str) -> tuple[bytes, int]:
    """The bytes to look for and the default alignment."""
    given = [x is not None for x in (args.pattern, args.hex, args.string, args.integer)]
    if sum(given) != 1:
        raise UsageError("give exactly one of PATTERN, --hex, --string, --int")
    if args.hex is not None:
        return hex_pattern(args.hex), 1
    if args.string is not None:
        return args.string.encode(), 1
    if args.integer is not None:
        size = args.int_size or word
        return int_pattern(args.integer, size, byteorder), size
    text: str = args.pattern
    if text.lower().startswith("0x"):
        return hex_pattern(text), 1
    return text.encode(), 1


def run(args: argparse.Namespace) -> int:
    with open_from_args(args) as snap:
        space = snap.space
        pattern, default_align = _pattern(args, space.word_size, space.byteorder)
        align = args.align or default_align
        if align <= 0 or (args.max is not None and args.max < 0):
            raise UsageError("--align and --max must be positive")
        hits = search(space, pattern, align=align)
        if args.count:
            print(sum(1 for _ in hits))
            return ExitCode.OK
        found = list(itertools.islice(hits, args.max + 1))
        more = len(found) > args.max
        found = found[: args.max]
        if args.json:
            jsonout.dump("find", {"target": snap.source, "pattern": pattern.hex(),
                                  "align": align, "truncated": more,
                                  "matches": [{"address": a, "where": describe_address(space, a)}
                                              for a in found]})  # fmt: skip
        else:
            for a in found:
                print(f"{hex_address(a, space.word_size)}  {describe_address(space, a)}")
        if more:
            print(f"memlens: stopped after {args.max} matches (raise --max)", file=sys.stderr)
    return ExitCode.OK

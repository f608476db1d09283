"""``memlens read``: bytes at an address as a hexdump, words, pointers or a string."""

from __future__ import annotations

import argparse

from memlens.analyses.address_names import describe_address
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import add_target_arguments, open_from_args, parse_address, parse_int
from memlens.errors import UsageError
from memlens.render.hexdump import hexdump, worddump

NAME = "read"
HELP = "dump memory at an address: hex, u32, u64, pointers (annotated) or a C string"
DESCRIPTION = """\
Dump LEN bytes (default 256) at ADDR (hex).  Bytes that are unmapped or were not
saved are an error, or with --pad are shown as ?? (never as zeroes)."""
EXAMPLES = (
    "memlens read core.1234 7ffe2e5a1fe8 --as str",
    "memlens read 1234 0x601000 64 --as ptr",
)

MAX_LEN = 64 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("address", metavar="ADDR", type=parse_address, help="address (hex)")
    parser.add_argument("length", metavar="LEN", type=parse_int, nargs="?",
                        help="bytes to show (default 256; --as str: longest string)")  # fmt: skip
    parser.add_argument("--as", dest="view", choices=("hex", "u32", "u64", "ptr", "str"),
                        default="hex", help="how to show the bytes (default hex)")  # fmt: skip
    parser.add_argument("--pad", action="store_true",
                        help="show unavailable bytes as ?? instead of failing")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    length = args.length if args.length is not None else (4096 if args.view == "str" else 256)
    if not 0 < length <= MAX_LEN:
        raise UsageError(f"LEN must be between 1 and {MAX_LEN}")
    with open_from_args(args) as snap:
        space = snap.space
        if args.view == "str":
            text = space.cstring(args.address, length, pad=args.pad)
            print(repr(text.decode("utf-8", "backslashreplace"))[1:-1])
            return ExitCode.OK
        if args.pad:
            data, mask = space.read_masked(args.address, length)
        else:  # raises AddressError naming the first gap
            data, mask = space.read(args.address, length), [True] * length
        word = space.word_size
        if args.view == "hex":
            print(hexdump(args.address, data, mask, word))
        else:
            size = {"u32": 4, "u64": 8, "ptr": word}[args.view]
            annotate = (lambda v: describe_address(space, v)) if args.view == "ptr" else None
            print(worddump(args.address, data, mask, size, space.byteorder, word, annotate))
    return ExitCode.OK


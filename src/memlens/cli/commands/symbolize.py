"""``memlens symbolize``: one frame per address (function+offset, file:line, inline chain)."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterator

from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import add_target_arguments, open_from_args, parse_address
from memlens.errors import UsageError
from memlens.render import jsonout
from memlens.render.symbolize_out import batch_json_chunks, batch_text
from memlens.symbols.chain import SOURCES, Symbolizer, symbolizer_for, symbolizer_for_file
from memlens.symbols.elffile import ET_CORE, is_elf
from memlens.symbols.framebatch import FrameBatch
from memlens.symbols.symtable import SymbolTable

NAME = "symbolize"
HELP = "turn addresses into function+offset, file:line and inline frames"
DESCRIPTION = (
    "TARGET is a PID, a core, a minidump or a plain ELF file (then the addresses are the "
    "file's own). Addresses are hex (0x optional); '-' reads them from stdin, one or more "
    "per line."
)
EXAMPLES = (
    "memlens symbolize 1234 7f3a12345678",
    "memlens symbolize ./a.out 0x401136 --json",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("addresses", nargs="+", metavar="ADDR", help="addresses, or - for stdin")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--debug-dir", action="append", default=[], metavar="DIR",
                        help="also look for separate debug files here (repeatable)")
    parser.add_argument("--sysroot", help="the target's files live under this directory")
    parser.add_argument("--chain", type=lambda s: [c for c in s.split(",") if c],
                        help=f"symbol sources in order (default all: {','.join(SOURCES)})")
    parser.add_argument("--nm", action="append", default=[], metavar="[MODULE=]FILE",
                        help="nm output for MODULE (file name or path; none: absolute addresses)")
    parser.add_argument("--map", action="append", default=[], metavar="[MODULE=]FILE",
                        help="GNU ld map file for MODULE (none: absolute addresses)")  # fmt: skip


def _addresses(items: list[str]) -> Iterator[int]:
    for item in items:
        if item == "-":
            words = sys.stdin.read().split()
            try:
                yield from [int(word, 16) for word in words]  # the common case, in one go
            except ValueError:
                yield from map(_parse, words)  # 0x prefixes, #decimal: one at a time
        else:
            yield _parse(item)


def _parse(text: str) -> int:
    try:
        return parse_address(text)
    except argparse.ArgumentTypeError as e:
        raise UsageError(str(e)) from None


def user_tables(nm: list[str], maps: list[str]) -> dict[str, SymbolTable]:
    if not nm and not maps:
        return {}
    from memlens.symbols.ldmap import load_map
    from memlens.symbols.nmtext import load_nm

    tables: dict[str, SymbolTable] = {}
    for spec, loader in [(s, "nm") for s in nm] + [(s, "map") for s in maps]:
        module, sep, path = spec.partition("=")
        if not sep:
            module, path = "", spec
        tables[module] = load_nm(path) if loader == "nm" else load_map(path).table(path)
    return tables


def make_symbolizer(args: argparse.Namespace, target: str) -> tuple[Symbolizer, object | None]:
    tables = user_tables(args.nm, args.map)
    elf, etype = is_elf(target)
    if elf and etype != ET_CORE and args.format is None:
        return symbolizer_for_file(target, debug_dirs=args.debug_dir, chain=args.chain,
                                   tables=tables), None  # fmt: skip
    snap = open_from_args(args)
    return symbolizer_for(snap, debug_dirs=args.debug_dir, sysroot=args.sysroot,
                          chain=args.chain, tables=tables), snap  # fmt: skip


def outside_warning(symbolizer: Symbolizer, batch: FrameBatch) -> str | None:
    """One line saying how many addresses fell outside every module, and which ranges
    the modules cover (None when every address is inside one)."""
    missing = int((batch.module[batch.inverse] < 0).sum()) if len(batch) else 0
    if not missing:
        return None
    mods = [m for m in symbolizer.modules if m.file] or symbolizer.modules
    ranges = ", ".join(f"{m.module.name} {m.module.base:#x}-{m.module.end:#x}"
                       for m in mods[:8])  # fmt: skip
    more = f" and {len(mods) - 8} more" if len(mods) > 8 else ""
    return (f"{missing} address{'es' if missing > 1 else ''} outside every module; "
            f"modules: {ranges or 'none'}{more}")


def run(args: argparse.Namespace) -> int:
    # 100k addresses make ~10^6 short-lived tuples and strings and no cycles: the cyclic
    # collector would walk the growing heap again and again (a tenth of the run)
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()


def _run(args: argparse.Namespace) -> int:
    addresses = list(_addresses(args.addresses))
    symbolizer, snap = make_symbolizer(args, args.target)
    try:
        batch = symbolizer.resolve(addresses)
    finally:
        close = getattr(snap, "close", None)
        if close is not None:
            close()
    warnings = list(dict.fromkeys(symbolizer.warnings))
    outside = outside_warning(symbolizer, batch)
    if outside:
        warnings.append(outside)
    if args.json:
        jsonout.dump("symbolize", {"target": args.target, "warnings": warnings},
                     rows=("frames", batch_json_chunks(batch)))
        return ExitCode.OK
    write = sys.stdout.write
    blocks = batch_text(batch)
    for at in range(0, len(blocks), 4096):  # a reader that stops early stops the writing
        write("\n".join(blocks[at : at + 4096]) + "\n")
    sys.stdout.flush()
    if warnings:
        # once, after the output, with a count: never interleaved with the frames
        print(f"memlens symbolize: {len(warnings)} warning{'s' if len(warnings) > 1 else ''}:",
              file=sys.stderr)
        for w in warnings:
            print(f"  {w}", file=sys.stderr)
    return ExitCode.OK

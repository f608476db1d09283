"""``memlens resident``: which symbols of a library are resident (the seed's memsymbols, fixed)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from memlens.analyses.resident import LibraryResidency, residency_for
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import add_target_arguments, open_from_args, parse_address
from memlens.errors import MemlensError, UsageError
from memlens.render import jsonout
from memlens.render.table import Column, Table, print_table
from memlens.render.units import hex_address, human_size
from memlens.symbols.demangle import demangle
from memlens.symbols.nmtext import load_nm
from memlens.symbols.symtable import KIND_FUNC

NAME = "resident"
HELP = "symbols of a library whose pages are resident (or not), with resident fractions"
DESCRIPTION = (
    "TARGET is a live PID (pagemap), a memdump file or any snapshot with residency. "
    "By default prints, for each resident symbol, its nm line (the seed memsymbols' output); "
    "--table/--json add sizes and resident fractions. A symbol counts as resident when any "
    "of its bytes is on a resident page (its first page when its size is unknown)."
)
EXAMPLES = (
    "memlens resident 1234 --lib libc --table",
    "memlens resident 1234 --summary",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--lib", help="library: a path or the end of one (libc.so.6)")
    parser.add_argument("--reverse", action="store_true", help="list non-resident symbols")
    parser.add_argument("--nm", metavar="FILE", help="take the library's symbols from nm output")
    parser.add_argument("--bias", type=parse_address,
                        help="load bias of the library (default: from its ELF headers)")
    parser.add_argument("--sysroot", help="the target's files live under this directory")
    parser.add_argument("--summary", action="store_true",
                        help="per library: text/data pages, resident pages, largest symbols")
    parser.add_argument("--table", action="store_true", help="a table with sizes and fractions")
    parser.add_argument("--json", action="store_true", help="machine-readable output")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if not args.summary and not args.lib:
        raise UsageError("give --lib NAME, or --summary")
    nm_table = load_nm(args.nm) if args.nm else None
    with open_from_args(args) as snap:
        libs = residency_for(snap, args.lib, nm_table=nm_table, bias=args.bias,
                             sysroot=args.sysroot)  # fmt: skip
        word = snap.space.word_size
    if args.summary:
        return _summary(libs, args, word)
    return _symbols(libs, args, word)


def _selected(lib: LibraryResidency, reverse: bool) -> list[int]:
    if lib.table is None:
        return []
    return np.flatnonzero((lib.any_resident != reverse) & lib.listed).tolist()


def _symbols(libs: list[LibraryResidency], args: argparse.Namespace, word: int) -> int:
    if libs and all(lib.table is None for lib in libs):
        # nothing to list: say what would give the symbols, and fail
        raise MemlensError(f"{libs[0].path}: no symbols: the file is not on this machine; "
                           "pass --nm FILE (the output of nm -S for it) or --sysroot DIR "
                           "(a directory holding the target's files)")  # fmt: skip
    if args.json:
        jsonout.dump("resident", {"target": args.target, "reverse": args.reverse,
                                  "libraries": [_lib_json(lb, args.reverse) for lb in libs]})
        return ExitCode.OK
    for lib in libs:
        for w in lib.warnings:
            print(f"memlens: {w}", file=sys.stderr)
    if args.table:
        table = Table([Column("address"), Column("size", "right"), Column("resident", "right"),
                       Column("symbol"), Column("library")])  # fmt: skip
        for lib in libs:
            assert lib.table is not None or not _selected(lib, args.reverse)
            for i in _selected(lib, args.reverse):
                t = lib.table
                assert t is not None
                frac = lib.fraction(i)
                table.add(hex_address(int(lib.runtime[i]), word),
                          str(int(t.sizes[i])) if t.size_known[i] else "?",
                          f"{frac:.0%}" if frac is not None else "first page",
                          demangle(t.name(i)), lib.path.rsplit("/", 1)[-1])  # fmt: skip
        print_table(table)
        return ExitCode.OK
    for lib in libs:
        t = lib.table
        if t is None:
            continue
        for i in _selected(lib, args.reverse):
            sym = t.symbol(i)
            print(sym.line if sym.line is not None else
                  f"{sym.address:0{2 * word}x} {lib.letter(i)} {demangle(sym.name)}")
    return ExitCode.OK


def _lib_json(lib: LibraryResidency, reverse: bool) -> dict[str, object]:
    t = lib.table
    text, rtext, data, rdata = lib.counts()
    out: dict[str, object] = {
        "path": lib.path, "load_bias": lib.load_bias, "text_pages": text,
        "resident_text_pages": rtext, "data_pages": data, "resident_data_pages": rdata,
        "warnings": lib.warnings, "symbols": [],
    }  # fmt: skip
    if t is not None:
        out["symbols"] = [
            {"name": t.name(i), "demangled": demangle(t.name(i)),
             "address": int(t.addresses[i]), "runtime_address": int(lib.runtime[i]),
             "size": int(t.sizes[i]) if t.size_known[i] else None,
             "resident_bytes": int(lib.resident[i]) if t.size_known[i] else None,
             "fraction": lib.fraction(i), "resident": bool(lib.any_resident[i])}
            for i in _selected(lib, reverse)
        ]  # fmt: skip
    return out


def _largest(lib: LibraryResidency, resident: bool) -> str:
    t = lib.table
    if t is None or not len(t):
        return "-"
    funcs = (t.kinds == KIND_FUNC) & t.size_known & (lib.any_resident == resident) & lib.listed
    if not funcs.any():
        return "-"
    i = int(np.flatnonzero(funcs)[np.argmax(t.sizes[funcs])])
    return f"{demangle(t.name(i))} ({human_size(int(t.sizes[i]))})"


def _summary(libs: list[LibraryResidency], args: argparse.Namespace, word: int) -> int:
    if args.json:
        jsonout.dump("resident-summary", {"target": args.target, "libraries": [
            {"path": lb.path, "text_pages": c[0], "resident_text_pages": c[1],
             "data_pages": c[2], "resident_data_pages": c[3],
             "largest_resident_function": _largest(lb, True),
             "largest_nonresident_function": _largest(lb, False), "warnings": lb.warnings}
            for lb, c in ((lb, lb.counts()) for lb in libs)]})  # fmt: skip
        return ExitCode.OK
    table = Table([Column("library"), Column("text", "right"), Column("data", "right"),
                   Column("resident", "right"), Column("%", "right"),
                   Column("largest resident function"),
                   Column("largest non-resident function")])  # fmt: skip
    for lib in libs:
        text, rtext, data, rdata = lib.counts()
        total = text + data
        table.add(lib.path, str(text), str(data), str(rtext + rdata),
                  f"{100 * (rtext + rdata) / total:.0f}" if total else "-",
                  _largest(lib, True), _largest(lib, False))  # fmt: skip
    print_table(table)
    return ExitCode.OK

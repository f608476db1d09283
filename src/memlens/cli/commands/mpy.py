"""``memlens mpy``: MicroPython / CircuitPython GC heap from a RAM dump or mem_info text.

Thin: parse the arguments, run one analysis (:mod:`memlens.mpy.session`), hand the
result to a renderer (``memlens.render.mpy_*``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from memlens.cli.exitcodes import ExitCode
from memlens.cli.output import write_output
from memlens.cli.target import add_target_arguments, options_from, parse_address
from memlens.errors import FormatError, UsageError
from memlens.mpy import meminfo_text, symbols
from memlens.mpy.session import HeapReport, each_snapshot, report
from memlens.mpy.symbols import FirmwareSymbols
from memlens.render import jsonout, mpy_dot, mpy_html, mpy_json, mpy_text
from memlens.render.mpy_meminfo import info_lines
from memlens.render.mpy_svg import heap_layout_svg, text_layout_svg
from memlens.targets import open_target

NAME = "mpy"
HELP = "MicroPython GC heap: numbers, mem_info(1) table, objects, ownership graph, pictures"
DESCRIPTION = """\
Find the MicroPython/CircuitPython GC heap in a RAM dump, core or live process (no
symbols needed: area records are recognised by their structure) and print
MicroPython's own numbers and allocation table, objects by type, and draw the
heap. TARGET may also be the text printed by micropython.mem_info(1), one
snapshot per print.
"""
EXAMPLES = (
    "memlens mpy ram.bin --base 0x20000000 --word-size 4 --table",
    "memlens mpy ram.bin --base 0x20000000 --elf firmware.elf --html heap.html",
)
GRAPH_NODES = 1500  # dot CPU on an 8 MiB heap: 0.5 s; 3000 nodes 4 s, 6000 nodes 20 s


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "--heap", type=_bounds, metavar="START:END",
        help="the heap's memory (hex), for a dump with no area record: layout and block "
             "size are inferred",
    )  # fmt: skip
    sym = parser.add_argument_group("firmware symbols (optional: the heap is found without them)")
    sym.add_argument("--elf", metavar="FW.elf",
                     help="firmware ELF: symbols, DWARF layouts, and its bytes where the dump "
                          "has none (a PIE is placed by its load bias)")  # fmt: skip
    sym.add_argument("--map", dest="ld_map", metavar="FW.map", help="GNU ld map of the firmware")
    sym.add_argument("--bin", dest="fw_bin", metavar="FW.bin",
                     help="firmware image (with --map): mapped at the start of flash")  # fmt: skip
    g = parser.add_argument_group("what to show")
    g.add_argument("--table", action="store_true", help="print the mem_info(1) text exactly")
    g.add_argument("--objects", action="store_true", help="list every allocation")
    g.add_argument("--offset-width", type=int, choices=(5, 8), default=8,
                   help="table offsets as %%05x (before v1.20) or %%08x (default)")  # fmt: skip
    g.add_argument("--pointer-prefix", default="", help="printed before the area address (0x)")
    g.add_argument("--graph", metavar="FILE", help="ownership graph: .dot, .svg or .png (dot)")
    g.add_argument("--layout", metavar="FILE", help="heap layout picture: .svg or .png")
    g.add_argument("--html", metavar="FILE", help="one page with the layout and the graph")
    g.add_argument(
        "--graph-nodes", type=int, default=GRAPH_NODES, metavar="N",
        help="at most N allocations in the graph: those the roots reach first, a few items "
             f"of each container before more; the rest counted on the nodes ({GRAPH_NODES})",
    )  # fmt: skip
    g.add_argument("--json", action="store_true", help="all numbers and objects as JSON")


def _bounds(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START:END, not {text!r}")
    return parse_address(lo), parse_address(hi)


def _is_text(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return meminfo_text.looks_like(head)


def run(args: argparse.Namespace) -> int:
    target = args.target
    if os.path.isfile(target) and args.format is None and args.base is None and _is_text(target):
        return _run_text(args, target)
    fw = _firmware(args)
    fixed = args.word_size is not None or args.endian is not None
    if args.snapshot == "all":
        if not args.snapshot_size:
            raise UsageError("--snapshot all needs --snapshot-size")
        base = options_from(argparse.Namespace(**{**vars(args), "snapshot": None}))
        many = each_snapshot(target, base, fw, open_target, fixed=fixed, bounds=args.heap,
                             note=_note)
        return _show_all(args, many)
    # the table alone needs block states and types, not objects or the graph
    detail = not args.table or bool(args.json or args.layout or args.graph or args.html)
    with report(target, options_from(args), fw, open_target, fixed=fixed, bounds=args.heap,
                note=_note,
                detail=detail) as one:  # fmt: skip
        return _show(args, one)


def _note(text: str) -> None:
    print(f"memlens: {text}", file=sys.stderr)


def _firmware(args: argparse.Namespace) -> FirmwareSymbols | None:
    if args.elf and args.ld_map:
        raise UsageError("give --elf or --map, not both")
    if args.fw_bin and not args.ld_map:
        raise UsageError("--bin goes with --map")
    if args.elf:
        return symbols.from_elf(args.elf)
    if args.ld_map:
        return symbols.from_map(args.ld_map, args.fw_bin)
    return None


def _table(args: argparse.Namespace, r: HeapReport) -> str:
    typed = r.objects is not None
    return mpy_text.heap_table(r.heap, offset_width=args.offset_width,
                               pointer_prefix=args.pointer_prefix, typed=typed)  # fmt: skip


def _show(args: argparse.Namespace, r: HeapReport) -> int:
    for w in r.heap.warnings:
        _note(f"warning: {w}")
    if r.objects is None:
        # The allocation table alone still gives the numbers and the table's shape.
        sys.stdout.write(_table(args, r))
        _note(f"partial result: {r.error}")
        return ExitCode.PARTIAL
    graph = _start_graph(args, r)  # dot lays it out while the text is made
    if args.json:
        jsonout.dump("mpy", mpy_json.heap(r.heap, r.source, r.objects, r.graph, r.frag,
                                          _table(args, r)))  # fmt: skip
    elif args.table:
        sys.stdout.write(_table(args, r))
    else:
        mpy_text.summary(r.heap, r.frag, r.objects, r.source)
        if args.objects:
            mpy_text.objects(r.objects)
    _pictures(args, r, None, graph)
    return ExitCode.OK if r.exact else ExitCode.PARTIAL


def _show_all(args: argparse.Namespace, many: Iterator[HeapReport]) -> int:
    rows = []
    exact = True
    for k, r in enumerate(many):
        exact &= r.exact
        for w in r.heap.warnings:
            _note(f"warning: snapshot {k}: {w}")
        objs = r.objects or []
        graph = _start_graph(args, r)
        rows.append(mpy_json.snapshot_row(k, r.heap, objs, r.diff))
        if not args.json:
            print(f"== snapshot {k}")
            if args.table:
                sys.stdout.write(_table(args, r))
            else:
                sys.stdout.write(info_lines(r.heap.info))
                if r.diff is not None:
                    mpy_text.diff(r.diff)
        _pictures(args, r, k, graph)
    if args.json:
        jsonout.dump("mpy-snapshots", {"source": args.target, "snapshots": rows})
    return ExitCode.OK if exact else ExitCode.PARTIAL


def numbered(path: str, k: int | None) -> str:
    """``path`` for snapshot ``k`` of several: ``heap.svg`` -> ``heap.2.svg``."""
    if k is None:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}.{k}{ext}"


def _write(path: str, data: bytes | str) -> None:
    write_output(path, data)


@dataclass(slots=True)
class _Graph:
    """The ownership graph's dot source, and dot already running on it for each
    picture format the command writes (dot can take seconds on a big graph)."""

    source: str
    rendering: dict[str, Future[bytes]]

    def drawn(self, fmt: str) -> bytes:
        return self.rendering[fmt].result()


def _start_graph(args: argparse.Namespace, r: HeapReport) -> _Graph | None:
    if r.objects is None or r.graph is None or not (args.graph or args.html):
        return None
    keep = r.select(args.graph_nodes)
    if int(keep.sum()) < len(keep):
        _note(f"warning: graph limited to {int(keep.sum())} of {len(keep)} allocations, those "
              "the roots reach first; a node says what it holds beyond them "
              "(--graph-nodes)")  # fmt: skip
    source = mpy_dot.heap_dot(r.heap, r.objects, r.graph, keep)
    formats = {"svg"} if args.html else set()
    if args.graph and not args.graph.endswith((".dot", ".gv")):
        formats.add(_graph_format(args.graph))
    return _Graph(source, {fmt: mpy_dot.render_soon(source, fmt) for fmt in sorted(formats)})


def _graph_format(path: str) -> str:
    return "png" if path.endswith(".png") else "svg"


def _pictures(
    args: argparse.Namespace, r: HeapReport, k: int | None, graph: _Graph | None
) -> None:
    if r.objects is None:
        return
    title = f"MicroPython GC heap ({len(r.objects)} allocations)"
    if args.layout:
        svg = heap_layout_svg(r.heap, r.objects, title)
        if args.layout.endswith(".png"):
            from memlens.render.mpy_png import svg_to_png

            _write(numbered(args.layout, k), svg_to_png(svg))
        else:
            _write(numbered(args.layout, k), svg)
    if graph is None:
        return
    if args.graph:
        dot_file = args.graph.endswith((".dot", ".gv"))
        drawn = graph.source if dot_file else graph.drawn(_graph_format(args.graph))
        _write(numbered(args.graph, k), drawn)
    if args.html:
        page = mpy_html.heap_page(r.heap, r.objects, r.frag, r.source,
                                  lambda: graph.drawn("svg").decode())  # fmt: skip
        _write(numbered(args.html, k), page)


def _run_text(args: argparse.Namespace, path: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(64 << 20)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    prints = meminfo_text.parse_all(text, path)
    chosen = meminfo_text.choose(prints, args.snapshot, path)
    several = len(chosen) > 1
    payloads = []
    for k, m in chosen:
        if args.layout and m.areas and m.block_size:
            _write(numbered(args.layout, k if several else None), text_layout_svg(m, path))
        if args.json:
            payloads.append(mpy_json.meminfo(m, path, k))
            continue
        if several:
            print(f"== snapshot {k}")
        if args.table and m.areas and m.block_size:
            sys.stdout.write(mpy_text.meminfo_table(m, args.pointer_prefix))
        else:
            mpy_text.meminfo_summary(m, path)
    if args.json:
        if several or args.snapshot == "all":
            jsonout.dump("mpy-meminfo-snapshots", {"source": path, "snapshots": payloads})
        else:
            jsonout.dump("mpy-meminfo", payloads[0])
    return ExitCode.OK if not any(m.mismatches() for _, m in chosen) else ExitCode.PARTIAL

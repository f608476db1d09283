"""``memlens mpy``: MicroPython / CircuitPython GC heap from a RAM dump or mem_info text."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import add_target_arguments, options_from, parse_address
from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError, UsageError
from memlens.mpy import meminfo_text, symbols
from memlens.mpy.atb import GcInfo
from memlens.mpy.fragmentation import Fragmentation, diff, fragmentation
from memlens.mpy.graph import OwnershipGraph, build
from memlens.mpy.heap import MpyHeap
from memlens.mpy.memory import analyse_any_word, prepare
from memlens.mpy.objects import HeapObject, objects, type_stats
from memlens.mpy.symbols import FirmwareSymbols
from memlens.render import jsonout, mpy_dot, mpy_html
from memlens.render.mpy_meminfo import alloc_table, info_lines
from memlens.render.mpy_svg import Alloc, layout_svg
from memlens.render.table import Column, Table, print_table
from memlens.render.units import human_size
from memlens.sources.raw import snapshot_count
from memlens.sources.registry import open_target

NAME = "mpy"
HELP = "MicroPython GC heap: numbers, mem_info(1) table, objects, ownership graph, pictures"
DESCRIPTION = """\
Find the MicroPython/CircuitPython GC heap in a RAM dump (no symbols needed:
area records are recognised by their structure) and print MicroPython's own
numbers and allocation table, objects by type, and draw the heap. TARGET may
also be the text printed by micropython.mem_info(1).
"""
GRAPH_NODES = 1500  # dot's layout time grows fast; minutes beyond a few thousand nodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    sym = parser.add_argument_group("firmware symbols (optional: the heap is found without them)")
    sym.add_argument("--elf", metavar="FW.elf", help="firmware ELF: symbols, and DWARF layouts")
    sym.add_argument("--map", dest="ld_map", metavar="FW.map", help="GNU ld map of the firmware")
    sym.add_argument("--bin", dest="fw_bin", metavar="FW.bin",
                     help="firmware image (with --map): mapped at the start of flash")  # fmt: skip
    parser.add_argument(
        "--heap", type=_bounds, metavar="START:END",
        help="the heap's memory (hex), for a dump with no area record: layout and block "
             "size are inferred",
    )  # fmt: skip
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
        help=f"at most N allocations in the graph, largest first ({GRAPH_NODES})",
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
    if (
        isinstance(target, str)
        and os.path.isfile(target)
        and args.format is None
        and args.base is None
        and _is_text(target)
    ):
        return _run_text(args, target)
    fw = _firmware(args)
    if args.snapshot == "all":
        return _run_all(args, fw)
    with open_target(target, options_from(args)) as snap:
        heap = _analyse(args, snap, snap.source, fw)
        return _report(args, heap, snap.source)


def _analyse(
    args: argparse.Namespace, snap: Snapshot, source: str, fw: FirmwareSymbols | None
) -> MpyHeap:
    mem = prepare(snap, fw)
    for note in mem.notes:
        print(f"memlens: {note}", file=sys.stderr)
    fixed = args.word_size is not None or args.endian is not None or (fw and fw.word)
    return analyse_any_word(mem.space, source, mem.symbols, bool(fixed), args.heap)


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


# -- one heap -------------------------------------------------------------------


def _info_json(info: GcInfo) -> dict[str, int]:
    d = asdict(info)
    return {k: int(v) for k, v in d.items()}


def _frag_json(fr: Fragmentation) -> dict[str, Any]:
    return {"free_bytes": fr.free_bytes, "largest_free_bytes": fr.largest_free_bytes,
            "largest_over_free": round(fr.largest_over_free, 6), "free_runs": fr.free_runs,
            "histogram": [{"blocks": b, "runs": c, "total_blocks": t}
                          for b, c, t in fr.histogram]}  # fmt: skip


def _table_text(args: argparse.Namespace, heap: MpyHeap, *, typed: bool = True) -> str:
    chars = heap.block_chars(typed=typed)
    areas = [(a.pool_start, c) for a, c in zip(heap.areas, chars, strict=True)]
    return alloc_table(areas, heap.block_size, offset_width=args.offset_width,
                       pointer_prefix=args.pointer_prefix)  # fmt: skip


def _report(args: argparse.Namespace, heap: MpyHeap, source: str) -> int:
    for w in heap.warnings:
        print(f"memlens: warning: {w}", file=sys.stderr)
    frag = fragmentation(heap.states, heap.block_size)
    try:
        graph = build(heap)
        objs = objects(heap, graph=graph)
    except FormatError as e:
        # The allocation table alone still gives the numbers and the table's shape.
        sys.stdout.write(info_lines(heap.info) + _table_text(args, heap, typed=False))
        print(f"memlens: partial result: {e}", file=sys.stderr)
        return ExitCode.PARTIAL
    inexact = heap.type_warning()
    if inexact is not None:
        print(f"memlens: warning: {inexact}", file=sys.stderr)
        heap.warnings.append(inexact)
    if args.json:
        jsonout.dump("mpy", _heap_json(heap, source, objs, graph, frag, args))
    elif args.table:
        sys.stdout.write(info_lines(heap.info) + _table_text(args, heap))
    else:
        _print_summary(heap, frag, objs, source)
        if args.objects:
            _print_objects(objs)
    if args.layout:
        _write_layout(args.layout, heap, objs)
    if args.graph or args.html:
        # one dot source, each picture rendered once (dot can take minutes on a big graph)
        dot_src = _dot(heap, objs, graph, args.graph_nodes)
        rendered: dict[str, bytes] = {}

        def graph_as(fmt: str) -> bytes:
            if fmt not in rendered:
                rendered[fmt] = mpy_dot.render(dot_src, fmt)
            return rendered[fmt]

        if args.graph:
            _write_graph(args.graph, dot_src, graph_as)
        if args.html:
            _write_html(args.html, heap, objs, graph_as("svg").decode(), frag, source)
    return ExitCode.OK if inexact is None else ExitCode.PARTIAL


def _heap_json(
    heap: MpyHeap,
    source: str,
    objs: list[HeapObject],
    graph: OwnershipGraph | None,
    frag: Fragmentation,
    args: argparse.Namespace,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "source": source, "method": heap.method, "layout": heap.layout.name,
        "word_size": heap.word_size, "block_size": heap.block_size,
        "areas": [{"record": a.record, "atb_start": a.atb_start, "atb_len": a.atb_len,
                   "ftb_start": a.ftb_start, "pool_start": a.pool_start,
                   "pool_end": a.pool_end, "blocks": a.n_blocks} for a in heap.areas],
        "gc": _info_json(heap.info), "fragmentation": _frag_json(frag),
        "types": [asdict(t) for t in type_stats(objs)],
        "objects": [asdict(o) for o in objs],
        "table": _table_text(args, heap), "warnings": heap.warnings,
    }  # fmt: skip
    if graph is not None:
        addr = heap.heads.address
        payload["graph"] = {
            "edges": [[int(addr[s]), int(addr[d]), int(w)]
                      for s, d, w in zip(graph.src.tolist(), graph.dst.tolist(),
                                         graph.src_word.tolist(), strict=True)],
            "roots": [[int(r), int(addr[t])] for r, t in
                      zip(graph.root_address.tolist(), graph.root_target.tolist(), strict=True)],
            "unreachable": [int(addr[i]) for i in graph.unreachable.tolist()],
        }  # fmt: skip
        if heap.symbols is not None:
            payload["graph"]["root_symbols"] = heap.symbols.names(graph.root_address.tolist())
    return payload


def _print_summary(heap: MpyHeap, frag: Fragmentation, objs: list[HeapObject], source: str) -> None:
    print(f"{source}: {len(heap.areas)} heap area(s) found by {heap.method}; "
          f"layout {heap.layout.name}; {heap.block_size}-byte blocks")  # fmt: skip
    for i, a in enumerate(heap.areas):
        ftb = f", FTB {a.ftb_start:#x}" if a.ftb_start is not None else ""
        print(f"  area {i}: pool {a.pool_start:#x}-{a.pool_end:#x} ({a.n_blocks} blocks), "
              f"ATB {a.atb_start:#x}{ftb}")  # fmt: skip
    sys.stdout.write(info_lines(heap.info))
    print(f"fragmentation: largest free run {human_size(frag.largest_free_bytes)} = "
          f"{100 * frag.largest_over_free:.1f}% of free {human_size(frag.free_bytes)}, "
          f"{frag.free_runs} free runs")  # fmt: skip
    if frag.histogram:
        print("  free runs (blocks: runs): "
              + ", ".join(f"{b}: {c}" for b, c, _ in frag.histogram))  # fmt: skip
    table = Table([Column("type"), Column("count", "right"), Column("bytes", "right")],
                  title="allocations by type")  # fmt: skip
    for t in type_stats(objs):
        table.add(t.type, str(t.count), str(t.bytes))
    print_table(table)


def _print_objects(objs: list[HeapObject]) -> None:
    table = Table([Column("address"), Column("blocks", "right"), Column("bytes", "right"),
                   Column("type"), Column("content")], title="allocations")  # fmt: skip
    for o in objs:
        table.add(f"{o.address:#x}", str(o.blocks), str(o.size), o.type, o.content or "")
    print_table(table)


# -- pictures ---------------------------------------------------------------------


def _allocs(heap: MpyHeap, objs: list[HeapObject]) -> list[list[Alloc]]:
    hd = heap.heads
    per: list[list[Alloc]] = [[] for _ in heap.areas]
    for i, o in enumerate(objs):
        letter = o.letter if o.letter != "h" or not o.type.startswith("instance") else "i"
        text = f"{o.address:#x} {o.type}, {o.blocks} blocks ({o.size} B)"
        if o.content:
            text += f": {o.content}"
        per[int(hd.area[i])].append(Alloc(int(hd.block[i]), o.blocks, letter, text))
    return per


def _layout_svg(heap: MpyHeap, objs: list[HeapObject], title: str) -> str:
    per = _allocs(heap, objs)
    areas = [(a.pool_start, a.n_blocks, per[i], heap.states[i] == 0)
             for i, a in enumerate(heap.areas)]  # fmt: skip
    return layout_svg(areas, heap.block_size, title)


def _write(path: str, data: bytes | str) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def _write_layout(path: str, heap: MpyHeap, objs: list[HeapObject]) -> None:
    svg = _layout_svg(heap, objs, f"MicroPython GC heap ({len(objs)} allocations)")
    if path.endswith(".png"):
        from memlens.render.mpy_png import svg_to_png

        _write(path, svg_to_png(svg))
    else:
        _write(path, svg)


def _dot(heap: MpyHeap, objs: list[HeapObject], graph: OwnershipGraph | None,
         limit: int = GRAPH_NODES) -> str:  # fmt: skip
    assert graph is not None
    addr = heap.heads.address.tolist()
    keep = np.zeros(len(objs), dtype=bool)
    if len(objs) > limit:
        # the biggest allocations first: they are where the memory went
        sizes = np.array([o.size for o in objs], dtype=np.int64)
        keep[np.argsort(-sizes, kind="stable")[:limit]] = True
        print(f"memlens: warning: graph limited to the {limit} largest of {len(objs)} "
              f"allocations (--graph-nodes)", file=sys.stderr)  # fmt: skip
    else:
        keep[:] = True
    nodes = [(addr[i], f"{addr[i]:#x}\\n{o.type} {o.size}B" + (f"\\n{o.content[:24]}" if o.content
             else ""), o.letter, bool(graph.reachable[i]))
             for i, o in enumerate(objs) if keep[i]]  # fmt: skip
    pairs = zip(graph.src.tolist(), graph.dst.tolist(), strict=True)
    edges = sorted({(addr[s], addr[d]) for s, d in pairs if keep[s] and keep[d]})
    where = graph.root_address.tolist()
    names = heap.symbols.names(where) if heap.symbols else [None] * len(where)
    roots = sorted({(f"root {n or hex(r)}", addr[t]) for r, n, t in
                    zip(where, names, graph.root_target.tolist(), strict=True)
                    if keep[t]})  # fmt: skip

    return mpy_dot.dot_source(nodes, edges, roots[:limit])


def _write_graph(path: str, dot_src: str, graph_as: Callable[[str], bytes]) -> None:
    if path.endswith(".dot") or path.endswith(".gv"):
        _write(path, dot_src)
    else:
        _write(path, graph_as("png" if path.endswith(".png") else "svg"))


def _write_html(
    path: str,
    heap: MpyHeap,
    objs: list[HeapObject],
    graph_svg: str,
    frag: Fragmentation,
    source: str,
) -> None:
    summary = info_lines(heap.info) + (
        f"largest free run {frag.largest_free_bytes} B of {frag.free_bytes} B free, "
        f"{frag.free_runs} free runs\n")  # fmt: skip
    layout = _layout_svg(heap, objs, source)
    data: dict[str, object] = {"gc": _info_json(heap.info),
                               "types": [asdict(t) for t in type_stats(objs)]}  # fmt: skip
    _write(path, mpy_html.page(f"memlens mpy: {source}", summary, layout, graph_svg, data))


# -- several snapshots --------------------------------------------------------------


def _run_all(args: argparse.Namespace, fw: FirmwareSymbols | None) -> int:
    if not args.snapshot_size:
        raise UsageError("--snapshot all needs --snapshot-size")
    try:
        count = snapshot_count(os.path.getsize(args.target), args.snapshot_size)
    except OSError as e:
        raise FormatError(args.target, None, e.strerror or str(e)) from None
    if count == 0:
        raise FormatError(args.target, 0, "file is smaller than one snapshot")
    base = options_from(argparse.Namespace(**{**vars(args), "snapshot": None}))
    results: list[dict[str, Any]] = []
    prev: list[HeapObject] | None = None
    for k in range(count):
        with open_target(args.target, replace(base, snapshot=k)) as snap:
            heap = _analyse(args, snap, f"{snap.source}#{k}", fw)
            objs = objects(heap, graph=build(heap))
            row: dict[str, Any] = {"snapshot": k, "gc": _info_json(heap.info),
                                   "types": [asdict(t) for t in type_stats(objs)]}  # fmt: skip
            if prev is not None:
                row["diff"] = [asdict(d) for d in diff(prev, objs)]
            results.append(row)
            prev = objs
            if not args.json:
                print(f"== snapshot {k}")
                sys.stdout.write(info_lines(heap.info))
                if "diff" in row:
                    _print_diff(row["diff"])
    if args.json:
        jsonout.dump("mpy-snapshots", {"source": args.target, "snapshots": results})
    return ExitCode.OK


def _print_diff(rows: list[dict[str, Any]]) -> None:
    table = Table([Column("type"), Column("allocated", "right"), Column("bytes", "right"),
                   Column("freed", "right"), Column("bytes", "right")],
                  title="since the previous snapshot")  # fmt: skip
    for r in rows:
        table.add(
            r["type"],
            str(r["allocated"]),
            str(r["allocated_bytes"]),
            str(r["freed"]),
            str(r["freed_bytes"]),
        )
    print_table(table)


# -- mem_info text ------------------------------------------------------------------


def _run_text(args: argparse.Namespace, path: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(64 << 20)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    parsed = meminfo_text.parse(text, path)
    derived = parsed.derived() if parsed.areas and parsed.block_size else None
    mismatch = []
    if derived is not None and parsed.header is not None:
        h = parsed.header
        for name in ("total", "used", "free", "num_1block", "num_2block", "max_block", "max_free"):
            if getattr(h, name) != getattr(derived, name):
                printed, computed = getattr(h, name), getattr(derived, name)
                mismatch.append(f"{name}: header {printed}, table {computed}")
    if args.json:
        jsonout.dump("mpy-meminfo", {
            "source": path, "header": _info_json(parsed.header) if parsed.header else None,
            "derived": _info_json(derived) if derived else None,
            "max_new_split": parsed.max_new_split, "stack_used": parsed.stack_used,
            "stack_max": parsed.stack_max, "block_size": parsed.block_size,
            "areas": [{"pool_start": a.pool_start, "blocks": len(a.chars)} for a in parsed.areas],
            "letters": parsed.letter_counts(), "mismatch": mismatch,
            "allocations_by_letter": {k: {"count": c, "bytes": b}
                                      for k, (c, b) in parsed.allocations_by_letter().items()},
        })  # fmt: skip
    elif args.table and derived is not None:
        areas = [(a.pool_start, a.chars) for a in parsed.areas]
        assert parsed.block_size is not None
        sys.stdout.write(info_lines(derived, parsed.max_new_split) + alloc_table(
            areas, parsed.block_size, offset_width=parsed.offset_width,
            pointer_prefix=args.pointer_prefix))  # fmt: skip
    else:
        print(f"{path}: mem_info text, {len(parsed.areas)} area(s), block size "
              f"{parsed.block_size or 'unknown'}")  # fmt: skip
        if derived is not None:
            sys.stdout.write("from the table:\n" + info_lines(derived, parsed.max_new_split))
            fr = fragmentation([a.states for a in parsed.areas], derived.block_size)
            print(f"fragmentation: largest free run {human_size(fr.largest_free_bytes)} = "
                  f"{100 * fr.largest_over_free:.1f}% of free, "
                  f"{fr.free_runs} free runs")  # fmt: skip
        print("blocks by letter: " + ", ".join(f"{k}:{v}" for k, v in
                                             parsed.letter_counts().items()))  # fmt: skip
        allocs = parsed.allocations_by_letter()
        if allocs:
            print("allocations by letter (count, bytes): "
                  + ", ".join(f"{k}: {c} {b}" for k, (c, b) in allocs.items()))  # fmt: skip
        for m in mismatch:
            print(f"  differs from the printed header: {m}")
    return ExitCode.OK if not mismatch else ExitCode.PARTIAL

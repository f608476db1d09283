"""``memlens maps``: one line per region with residency counts (pmap, ptexplore -quiet)."""

from __future__ import annotations

import argparse
import sys

from memlens.analyses.regions import RegionRow, region_rows
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import (
    add_areas_argument,
    add_target_arguments,
    open_from_args,
    selected_regions,
)
from memlens.render import jsonout
from memlens.render.table import Column, Table, print_table
from memlens.render.units import hex_address, human_size

NAME = "maps"
HELP = "list regions with size, permissions and resident/swapped/soft-dirty pages"
EXAMPLES = (
    "memlens maps 1234 --areas '[heap],libc'",
    "memlens maps core.1234 --json",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    add_areas_argument(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    with open_from_args(args) as snap:
        for warning in snap.warnings:
            print(f"memlens: warning: {warning}", file=sys.stderr)
        rows = region_rows(snap, selected_regions(snap.regions, args.areas))
        word = snap.space.word_size
        if args.json:
            jsonout.dump("maps", {"target": snap.source, "format": snap.format,
                                  "page_size": snap.page_size,
                                  "regions": [_json_row(r) for r in rows]})  # fmt: skip
        else:
            _print(rows, word, snap.page_size, saved=snap.format != "live",
                   residency=snap.has_residency)  # fmt: skip
        partial = [r for r in rows if r.partial]
        if partial:
            print(f"memlens: partial result: {partial[0].partial}", file=sys.stderr)
            return ExitCode.PARTIAL
    return ExitCode.OK


def _json_row(row: RegionRow) -> dict[str, object]:
    r = row.region
    return {
        "start": r.start, "end": r.end, "size": r.size, "perms": str(r.perms),
        "offset": r.offset, "name": r.name, "kind": r.kind.value, "path": r.path,
        "deleted": r.deleted, "saved_bytes": row.saved,
        "not_saved_bytes": None if row.saved is None else r.size - row.saved,
        "resident_pages": row.resident,
        "swapped_pages": row.swapped, "soft_dirty_pages": row.soft_dirty,
        "partial": row.partial, "note": row.note,
    }  # fmt: skip


def _print(rows: list[RegionRow], word: int, page_size: int, *, saved: bool,
           residency: bool = True) -> None:  # fmt: skip
    """Snapshot files get "saved" / "not saved" byte columns; sources without residency
    (most cores, raw dumps) get no rss/swap/dirty columns rather than columns of dashes."""
    cols = [Column("start"), Column("end"), Column("size", "right"), Column("perm"),
            Column("offset", "right")]  # fmt: skip
    if saved:
        cols += [Column("saved", "right"), Column("not saved", "right")]
    if residency:
        cols += [Column("rss", "right"), Column("swap", "right"), Column("dirty", "right")]
    cols.append(Column("name"))
    table = Table(cols)
    tot = {"size": 0, "saved": 0, "rss": 0, "swap": 0, "dirty": 0}
    for row in rows:
        r = row.region
        cells = [hex_address(r.start, word), hex_address(r.end, word), human_size(r.size),
                 str(r.perms), f"{r.offset:x}"]  # fmt: skip
        if saved:
            cells += [human_size(row.saved or 0), human_size(r.size - (row.saved or 0))]
        if residency:
            cells += [_cell(row.resident), _cell(row.swapped), _cell(row.soft_dirty)]
        cells.append(r.label() + (" [partial]" if row.partial else ""))
        table.add(*cells)
        tot["size"] += r.size
        tot["saved"] += row.saved or 0
        tot["rss"] += row.resident or 0
        tot["swap"] += row.swapped or 0
        tot["dirty"] += row.soft_dirty or 0
    footer = ["total", f"{len(rows)} regions", human_size(tot["size"]), "", ""]
    if saved:
        footer += [human_size(tot["saved"]), human_size(tot["size"] - tot["saved"])]
    if residency:
        dirty_known = any(row.soft_dirty is not None for row in rows)
        swap_known = any(row.swapped is not None for row in rows)
        footer += [str(tot["rss"]), str(tot["swap"]) if swap_known else "-",
                   str(tot["dirty"]) if dirty_known else "-",
                   f"resident {human_size(tot['rss'] * page_size)}"]  # fmt: skip
    else:
        footer.append("")
    table.footer = footer
    print_table(table)
    for row in rows:
        if row.note:
            print(f"note: {row.region.label()}: page counts unknown: {row.note}")
    reasons = sorted({row.soft_dirty_reason for row in rows if row.soft_dirty_reason})
    for reason in reasons:
        print(f"note: soft-dirty counts unknown: {reason}")

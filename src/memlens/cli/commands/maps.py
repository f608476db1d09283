"""``memlens maps``: one line per region with its memory use as smaps counts it (pmap -X)."""

from __future__ import annotations

import sys

from memlens.analyses.regions import RegionRow, region_rows, smaps_rows
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import (
    add_areas_argument,
    add_target_arguments,
    open_from_args,
    plain_target_args,
    selected_regions,
)
from memlens.render.maptable import render_maps
from memlens.render.table import is_terminal
from memlens.render.units import human_size
from memlens.sources.live.pid import machine_of, parse_pid

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NAME = "maps"
HELP = "list regions with size, permissions, Rss/Pss/Uss/shared/swap (smaps) and saved bytes"
DESCRIPTION = """\
One line per region.  For a live process the memory columns are the kernel's own
/proc/PID/smaps numbers (what pmap -X prints): rss (no zero page, no hugetlb
pages), pss (each page divided by its map count), uss (Private_Clean +
Private_Dirty), shared (Shared_Clean + Shared_Dirty), swap; --extended adds
dirty, SwapPss, Locked, AnonHugePages, hugetlb (Shared + Private_Hugetlb) and
THPeligible.  For a memlens snapshot they are computed from its saved page
tables.  Sizes are human-readable on a terminal and bytes otherwise (--bytes
forces bytes)."""
EXAMPLES = (
    "memlens maps 1234 --areas '[heap],libc'",
    "memlens maps core.1234 --json",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    add_areas_argument(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-x", "--extended", action="store_true",
                        help="also dirty, swappss, locked, anonhuge, hugetlb, thp columns")
    parser.add_argument("--bytes", action="store_true", help="sizes in bytes, also on a terminal")
    parser.add_argument("--soft-dirty", action="store_true",
                        help="also count soft-dirty pages (reads pagemap)")  # fmt: skip


#: the flags ``plain_args`` takes (spelled out: argparse also takes prefixes such as
#: ``--js``, which go to the parser)
_PLAIN_FLAGS = {"--json": "json", "-x": "extended", "--extended": "extended", "--bytes": "bytes"}


def plain_args(words: list[str]) -> dict[str, object] | None:
    """The parser's values for ``maps TARGET`` with none but the flags above (None for
    anything else): memlens/cli/main.py runs that command line without argparse."""
    flags = [w for w in words if w in _PLAIN_FLAGS]
    values = plain_target_args([w for w in words if w not in _PLAIN_FLAGS])
    if values is None:
        return None
    chosen = {"json": False, "extended": False, "bytes": False}
    for flag in flags:
        chosen[_PLAIN_FLAGS[flag]] = True
    return {**values, "areas": None, **chosen, "soft_dirty": False}


def run(args: argparse.Namespace) -> int:
    pid = _plain_pid(args)
    if pid is not None:
        rows = smaps_rows(pid, page_counts=args.json)
        if rows:  # else a zombie or a kernel thread: the snapshot path says which
            chosen = set(selected_regions([r.region for r in rows], args.areas))
            rows = [r for r in rows if r.region in chosen]
            return _show(args, rows, str(pid), "live", machine_of(pid)[1])
    with open_from_args(args) as snap:
        for warning in snap.warnings:
            print(f"memlens: warning: {warning}", file=sys.stderr)
        tables = args.json or args.soft_dirty or snap.format != "live"
        rows = region_rows(snap, selected_regions(snap.regions, args.areas), page_tables=tables)
        return _show(args, rows, snap.source, snap.format, snap.space.word_size, snap.page_size)


def _plain_pid(args: argparse.Namespace) -> int | None:
    """The PID when the target is a process and no option needs it opened as a snapshot:
    then smaps (and for --json pagemap) is all ``maps`` reads."""
    if args.freeze or args.soft_dirty or args.base is not None or args.piece:
        return None
    if args.format not in (None, "live"):
        return None
    return parse_pid(args.target)


def _show(args: argparse.Namespace, rows: list[RegionRow], source: str, fmt: str, word: int,
          page_size: int | None = None) -> int:  # fmt: skip
    if args.json:
        from memlens.render import jsonout  # json: only for --json

        if page_size is None:
            import os

            page_size = os.sysconf("SC_PAGE_SIZE")
        # plain: ints, strings, booleans and None only (the standard library's json writes it)
        jsonout.dump("maps", {"target": source, "format": fmt, "page_size": page_size,
                              "regions": [_json_row(r) for r in rows]}, plain=True)  # fmt: skip
    else:
        size = (str if args.bytes or not is_terminal(sys.stdout) else human_size)
        render_maps(rows, word, size, saved=fmt != "live",
                    extended=args.extended, soft_dirty=args.soft_dirty)  # fmt: skip
    partial = [r for r in rows if r.partial]
    if partial:
        print(f"memlens: partial result: {partial[0].partial}", file=sys.stderr)
        return ExitCode.PARTIAL
    return ExitCode.OK


def _json_row(row: RegionRow) -> dict[str, object]:
    r = row.region
    u = row.usage
    return {
        "start": r.start, "end": r.end, "size": r.size, "perms": str(r.perms),
        "offset": r.offset, "name": r.name, "kind": r.kind.value, "path": r.path,
        "deleted": r.deleted, "saved_bytes": row.saved,
        "not_saved_bytes": None if row.saved is None else r.size - row.saved,
        "resident_pages": row.resident,
        "swapped_pages": row.swapped, "soft_dirty_pages": row.soft_dirty,
        "partial": row.partial, "note": row.note,
        "rss": u.fields.get("Rss") if u else None, "pss": u.fields.get("Pss") if u else None,
        "uss": u.uss if u else None, "shared": u.shared if u else None,
        "swap": u.fields.get("Swap") if u else None,
        # every field as the kernel names it, in bytes (unitless ones in smaps_counts)
        "smaps": dict(u.fields) if u else None, "smaps_counts": dict(u.counts) if u else None,
    }  # fmt: skip

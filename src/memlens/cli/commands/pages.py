"""``memlens pages``: per-page state of a target (ptexplore), or its flag summary (page-types)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from memlens.analyses.pages import RegionPages, page_at, partial_reason, scan
from memlens.cli.exitcodes import ExitCode
from memlens.cli.target import (
    add_areas_argument,
    add_target_arguments,
    open_from_args,
    parse_address,
    selected_regions,
)
from memlens.errors import UsageError
from memlens.sources.live.pid import parse_pid

TYPE_CHECKING = False  # typing is start-up `pages PID` need not pay (memlens/core/frozen.py)
if TYPE_CHECKING:
    from memlens.analyses.pages import PageSource

NAME = "pages"
HELP = "per-page state: physical address, map count, kpageflags; or --summary by flag set"
DESCRIPTION = """\
One line per present or swapped page of each region: the physical address,
the pagemap bits (file-page, exclusive, soft-dirty, uffd-wp, guard), the map
count and the kpageflags names; swapped pages show swap type and offset; runs
of pages that are not present are folded into one line.

Physical addresses, counts and flags need CAP_SYS_ADMIN (root); without it
memlens still reports which pages are present and says why the rest is
unavailable.  --summary groups the pages by identical flag set, per region
kind and in total (the kernel's page-types view).
"""
EXAMPLES = (
    "memlens pages 1234 --summary",
    "memlens pages 1234 --address 7f3a12345000",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, nargs="?")
    parser.add_argument("--system", action="store_true",
                        help="the flag-set summary of all physical memory (page-types with "
                             "no -p; root); no TARGET")  # fmt: skip
    add_areas_argument(parser)
    parser.add_argument(
        "--address", type=parse_address, metavar="ADDR",
        help="show only the page holding ADDR (hex; 0 allowed)",
    )  # fmt: skip
    parser.add_argument("--summary", action="store_true",
                        help="group pages by flag set per region kind (page-types)")  # fmt: skip
    parser.add_argument(
        "--raw", action="store_true",
        help="also show kpageflags bits 32-41 (MLOCKED, SOFTDIRTY...) and unnamed bits",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output (per-page output: compact, streamed)")
    parser.add_argument("--ndjson", action="store_true",
                        help="per-page output as one JSON object per line (region, page...)")
    parser.add_argument(
        "-b", "--bits", action="append", metavar="SPEC", default=[],
        help="only pages whose flags match SPEC, page-types -b syntax: 'anon,lru' (any), "
             "'anon,~lru' (anon and not lru), 'a,b=a', '=a,b' (exactly); repeat to require "
             "several; names as page-types -r expands them (anon_exclusive, readahead, "
             "file, swap, mmap_exclusive...)",
    )  # fmt: skip
    parser.add_argument("-l", "--list", action="store_true",
                        help="list ranges of pages with consecutive frames and one flag set "
                             "(page-types -l); the default output with --bits")  # fmt: skip


@contextmanager
def _progress(what: str) -> Iterator[None]:
    """A spinner on stderr while reading, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(what):
        yield


def run(args: argparse.Namespace) -> int:
    if args.system:
        return _system(args)
    if args.target is None:
        raise UsageError("pages needs a TARGET (a PID or a snapshot file), or --system")
    pid = _plain_pid(args)
    if pid is not None:
        # a process's maps and page tables are all this needs: no snapshot opened
        from memlens.sources.live.pagetables import LivePageTables

        with LivePageTables(pid) as tables:
            return _show(tables, args)
    with open_from_args(args) as snap:
        for warning in snap.warnings:
            print(f"memlens: warning: {warning}", file=sys.stderr)
        if not snap.has_residency:
            raise UsageError(f"{args.target}: this {snap.format} snapshot has no page tables "
                             "(pages needs a live PID or a snapshot that saved them)")  # fmt: skip
        at = [page_at(snap, args.address)] if args.address is not None else None
        return _show(snap, args, at)


def _plain_pid(args: argparse.Namespace) -> int | None:
    """The PID when the target is a process and nothing asks for it opened as a snapshot
    (--freeze, a reader, --address: that looks the address up in its address space)."""
    if args.freeze or args.address is not None or args.base is not None or args.piece:
        return None
    if args.format not in (None, "live"):
        return None
    return parse_pid(args.target)


def _show(snap: PageSource, args: argparse.Namespace,
          scanned: list[RegionPages] | None = None) -> int:  # fmt: skip
    """Scan (unless ``scanned`` holds the page of --address) and print."""
    if scanned is None:
        regions = snap.regions
        if args.areas:
            regions = selected_regions(regions, args.areas)
        with _progress(f"reading page tables of {len(regions)} regions"):
            scanned = scan(snap, regions, counts=not (args.summary or args.list))
    emit: Callable[[PageSource, list[RegionPages], argparse.Namespace], None]
    emit = _summary if args.summary else _pages
    if args.bits or args.list:
        scanned, emit = _filtered(scanned, args)
    emit(snap, scanned, args)
    partial = partial_reason(scanned)
    if partial:
        print(f"memlens: partial result: {partial}", file=sys.stderr)
        return ExitCode.PARTIAL
    return ExitCode.OK


def _system(args: argparse.Namespace) -> int:
    import os

    from memlens.analyses.pagebits import parse_bits
    from memlens.analyses.pagesummary import summarize_system
    from memlens.render.pagesummary import print_summary, summary_json

    if args.target is not None:
        raise UsageError("--system takes no TARGET: it reads all physical memory")
    page_size = os.sysconf("SC_PAGE_SIZE")
    with _progress("reading /proc/kpageflags"):
        summary = summarize_system(page_size, raw=args.raw,
                                   filters=[parse_bits(b) for b in args.bits])  # fmt: skip
    if args.json:
        from memlens.render import jsonout

        jsonout.dump("pages-summary", {"target": "system", "format": "kpageflags",
                                       "page_size": page_size, "bits": args.bits,
                                       **summary_json(summary, args.raw)})  # fmt: skip
    else:
        print_summary(summary, args.raw)
    return ExitCode.OK


def _filtered(scanned: list[RegionPages], args: argparse.Namespace
              ) -> tuple[list[RegionPages], Callable[[PageSource, list[RegionPages],
                                                     argparse.Namespace], None]]:  # fmt: skip
    """Apply --bits: the summary counts only matching pages; anything else lists ranges."""
    from memlens.analyses.pagebits import keep_only, matching, parse_bits

    args.filters = [parse_bits(spec) for spec in args.bits]
    if args.summary:
        return [RegionPages(rp.region, None if rp.table is None or "pagemap" in
                            rp.table.unavailable else keep_only(rp.table, matching(
                                rp.table, args.filters)))
                for rp in scanned], _summary  # fmt: skip
    return scanned, _ranges


def _ranges(snap: PageSource, scanned: list[RegionPages], args: argparse.Namespace) -> None:
    from memlens.analyses.pagebits import page_ranges
    from memlens.render.pageranges import range_json, write_ranges

    listed = [(rp, page_ranges(rp.table, args.filters)) for rp in scanned
              if rp.table is not None and "pagemap" not in rp.table.unavailable]  # fmt: skip
    if any(rp.table is not None and "flags" in rp.table.unavailable for rp, _ in listed):
        reason = next(rp.table.unavailable["flags"] for rp, _ in listed
                      if rp.table is not None and "flags" in rp.table.unavailable)  # fmt: skip
        print(f"memlens: warning: kpageflags unavailable ({reason}): only pagemap bits "
              "(file, swap, mmap_exclusive, softdirty) are known", file=sys.stderr)  # fmt: skip
    if args.json:
        from memlens.render import jsonout

        jsonout.dump("pages-list", {
            "target": snap.source, "format": snap.format, "page_size": snap.page_size,
            "bits": args.bits,
            "regions": [{"start": rp.region.start, "end": rp.region.end, "name": rp.region.name,
                         "ranges": [range_json(r) for r in ranges]} for rp, ranges in listed],
        })  # fmt: skip
        return
    write_ranges(sys.stdout, listed, snap.word_size)


def _summary(snap: PageSource, scanned: list[RegionPages], args: argparse.Namespace) -> None:
    from memlens.analyses.pagesummary import summarize
    from memlens.render.pagesummary import print_summary, summary_json

    summary = summarize(scanned, snap.page_size, raw=args.raw)
    if args.json:
        from memlens.render import jsonout

        jsonout.dump("pages-summary", {"target": snap.source, "format": snap.format,
                                       "page_size": snap.page_size,
                                       **summary_json(summary, args.raw)})  # fmt: skip
    else:
        print_summary(summary, args.raw)


def _pages(snap: PageSource, scanned: list[RegionPages], args: argparse.Namespace) -> None:
    if args.json or args.ndjson:
        from memlens.render.pagejson import write_pages_json, write_pages_ndjson

        head = {"target": snap.source, "format": snap.format, "page_size": snap.page_size,
                "address": args.address}  # fmt: skip
        write = write_pages_ndjson if args.ndjson else write_pages_json
        sys.stdout.flush()
        write(sys.stdout.buffer, head, scanned, args.raw)
        if not args.ndjson:
            sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()
        return
    from memlens.render.pagelines import write_regions, write_single

    sys.stdout.flush()
    out = sys.stdout.buffer
    word = snap.word_size
    if args.address is not None:
        write_single(out, scanned[0], word, args.raw)
    else:
        write_regions(out, scanned, word, args.raw)
    out.flush()

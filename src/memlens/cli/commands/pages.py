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
from memlens.core.snapshot import Snapshot
from memlens.errors import UsageError

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
    add_target_arguments(parser)
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
    parser.add_argument("--json", action="store_true", help="machine-readable output")


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
    with open_from_args(args) as snap:
        for warning in snap.warnings:
            print(f"memlens: warning: {warning}", file=sys.stderr)
        if not snap.has_residency:
            raise UsageError(f"{args.target}: this {snap.format} snapshot has no page tables "
                             "(pages needs a live PID or a snapshot that saved them)")  # fmt: skip
        if args.address is not None:
            scanned = [page_at(snap, args.address)]
        else:
            regions = snap.regions
            if args.areas:
                regions = selected_regions(regions, args.areas)
            with _progress(f"reading page tables of {len(regions)} regions"):
                scanned = scan(snap, regions, counts=not args.summary)
        emit: Callable[[Snapshot, list[RegionPages], argparse.Namespace], None]
        emit = _summary if args.summary else _pages
        emit(snap, scanned, args)
        partial = partial_reason(scanned)
    if partial:
        print(f"memlens: partial result: {partial}", file=sys.stderr)
        return ExitCode.PARTIAL
    return ExitCode.OK


def _summary(snap: Snapshot, scanned: list[RegionPages], args: argparse.Namespace) -> None:
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


def _pages(snap: Snapshot, scanned: list[RegionPages], args: argparse.Namespace) -> None:
    if args.json:
        from memlens.render import jsonout
        from memlens.render.pagejson import region_json

        regions = [region_json(rp, args.raw) for rp in scanned]
        jsonout.dump("pages", {"target": snap.source, "format": snap.format,
                               "page_size": snap.page_size, "address": args.address,
                               "regions": regions})  # fmt: skip
        return
    from memlens.render.pagelines import write_regions, write_single

    sys.stdout.flush()
    out = sys.stdout.buffer
    word = snap.space.word_size
    if args.address is not None:
        write_single(out, scanned[0], word, args.raw)
    else:
        write_regions(out, scanned, word, args.raw)
    out.flush()

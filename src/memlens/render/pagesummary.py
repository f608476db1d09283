"""The ``pages --summary`` view: flag groups per region kind, then totals."""

from __future__ import annotations

from memlens.analyses.pagesummary import FlagGroup, PageSummary
from memlens.render.pagelines import flag_text
from memlens.render.table import Column, Table, print_table
from memlens.render.units import human_size

# not typing.TYPE_CHECKING: typing is ~3 ms of `pages PID` (memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _flags_cell(group: FlagGroup, raw: bool) -> str:
    if group.flags is None:
        return "?"
    return flag_text(group.flags, raw) or "-"


def summary_table(summary: PageSummary, raw: bool = False) -> Table:
    table = Table([Column("kind"), Column("state"), Column("pagemap"), Column("kpageflags"),
                   Column("pages", "right"), Column("size", "right")])  # fmt: skip
    for g in [*summary.groups, *summary.totals]:
        table.add(g.kind, g.state, " ".join(g.bits) or "-", _flags_cell(g, raw), str(g.pages),
                  human_size(g.size))  # fmt: skip
    pages = sum(g.pages for g in summary.totals)
    table.footer = ["total", "", "", f"{len(summary.totals)} flag sets", str(pages),
                    human_size(pages * summary.page_size)]  # fmt: skip
    return table


def notes(summary: PageSummary) -> list[str]:
    out = []
    if "flags" in summary.unavailable:
        out.append(f"kpageflags unavailable: {summary.unavailable['flags']}")
    for region, reason in summary.regions_without_table:
        out.append(f"{region.label()} at {region.start:#x}: {reason}")
    if summary.partial:
        out.append(f"partial: {summary.partial}")
    return out


def print_summary(summary: PageSummary, raw: bool = False) -> None:
    print_table(summary_table(summary, raw))
    for line in notes(summary):
        print(f"note: {line}")


def summary_json(summary: PageSummary, raw: bool = False) -> dict[str, Any]:
    def group(g: FlagGroup) -> dict[str, Any]:
        return {
            "kind": g.kind, "state": g.state, "pagemap_bits": list(g.bits),
            "kpageflags": g.flags,
            "flag_names": None if g.flags is None else flag_text(g.flags, raw).split(",")
            if g.flags else [],
            "pages": g.pages, "bytes": g.size,
        }  # fmt: skip

    return {
        "groups": [group(g) for g in summary.groups],
        "totals": [group(g) for g in summary.totals],
        "unavailable": summary.unavailable,
        "regions_without_page_table": [
            {"start": r.start, "end": r.end, "name": r.name, "reason": why}
            for r, why in summary.regions_without_table
        ],
        "partial": summary.partial,
    }

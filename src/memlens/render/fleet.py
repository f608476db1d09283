"""A batch dataset's fleet report as tables, or as JSON data."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from memlens.batch.aggregate import FleetReport, SiteStat
from memlens.render.table import Column, Table, print_table
from memlens.render.units import human_size


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t is not None else "-"


def _sites(title: str, stats: list[SiteStat], unit: str = "blocks") -> None:
    if not stats:
        return
    table = Table([Column(title), Column("dumps", "right"), Column(unit, "right"),
                   Column("bytes", "right")])  # fmt: skip
    for s in stats:
        table.add(s.site, str(s.dumps), str(s.blocks), human_size(s.bytes))
    print_table(table)
    print()


def print_report(report: FleetReport) -> None:
    print(f"{report.dumps} dumps, {report.crashes} with a crash signature, "
          f"{report.errors} unreadable\n")  # fmt: skip
    if report.signatures:
        table = Table([Column("count", "right"), Column("signature"), Column("reason"),
                       Column("first seen"), Column("last seen"), Column("modules")])  # fmt: skip
        for s in report.signatures:
            table.add(str(s.count), s.signature, ", ".join(s.reasons), _when(s.first_seen),
                      _when(s.last_seen), ", ".join(s.modules[:3]))  # fmt: skip
        print_table(table)
        print()
    _sites("heap site (module@offset)", report.heap_sites)
    _sites("heap function", report.heap_functions)
    if report.growth:
        table = Table([Column("growing site"), Column("before", "right"),
                       Column("after", "right"), Column("growth", "right")])  # fmt: skip
        for g in report.growth:
            table.add(g.site, human_size(g.bytes_before), human_size(g.bytes_after),
                      human_size(g.growth))  # fmt: skip
        print_table(table)
        print()
    _sites("leaked (kind: class or first words)", report.leaks)
    _sites("MicroPython type", report.mpy_types, "objects")
    if report.error_reasons:
        table = Table([Column("inputs", "right"), Column("could not be read because")])
        for reason, count in report.error_reasons:
            table.add(str(count), reason)
        print_table(table)


def report_json(report: FleetReport) -> dict[str, Any]:
    doc = dataclasses.asdict(report)
    doc["growth"] = [dict(g, growth=g["bytes_after"] - g["bytes_before"]) for g in doc["growth"]]
    doc["error_reasons"] = [{"reason": r, "inputs": n} for r, n in report.error_reasons]
    return doc

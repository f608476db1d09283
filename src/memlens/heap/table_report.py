"""A :class:`RunReport` from a stats table: while ``memlens run`` watches, or from the file later.

The table file (``PID-K.mlstats``) holds everything the report's figures need
and the objects the shim saw loaded, so ``memlens heap OUT/PID-0.mlstats``
reports a run after the fact -- after a crash of memlens itself too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from memlens.heap.pyframes import PyFrame
from memlens.heap.run_report import (
    RunReport,
    stack_aliases,
    stack_stats,
    symbolize_stacks,
)
from memlens.heap.stats_table import StatsTable
from memlens.heap.symbolize import modules_of, symbolize_returns
from memlens.heap.timeline import Timeline
from memlens.symbols.chain import Symbolizer
from memlens.symbols.modmap import ModuleFile


def with_noted_modules(
    table: StatsTable, known: Sequence[ModuleFile] = ()
) -> list[ModuleFile]:
    """``known`` modules (from /proc maps: exact, with build ids) completed by those the shim
    noted that none of them covers (a program gone before memlens looked, a library loaded
    and unloaded in between)."""
    out = {(m.module.path, m.module.base): m for m in known}
    for n in table.modules():
        if any(m.module.base < n.end and n.base < m.module.end for m in known):
            continue
        file = n.path if os.path.isfile(n.path) else None
        problem = None if file else "not found on this machine"
        out[(n.path, n.base)] = ModuleFile(n, file, None, problem)
    return sorted(out.values(), key=lambda m: m.module.base)


def report_from_table(
    table: StatsTable,
    *,
    command: list[str],
    status: int,
    status_text: str,
    runtime: float,
    timeline: Timeline | None = None,
    known_modules: Sequence[ModuleFile] = (),
    processes: int = 1,
    top: int | None = None,
    python: dict[tuple[int, int], PyFrame] | None = None,
    native: bool = False,
) -> RunReport:
    """The run's report from ``table``, stacks symbolized (those ``top`` shows, or all);
    Python frames named from ``python`` (see :func:`symbolize_stacks`)."""
    rows = table.rows()
    stacks = stack_stats(rows)
    aliases = stack_aliases(rows, stacks)
    loaded = with_noted_modules(table, known_modules)
    symbolizer = Symbolizer(loaded)
    stacks = symbolize_stacks(stacks, lambda a: symbolize_returns(symbolizer, a), top, python,
                              native=native)  # fmt: skip
    totals = table.totals(peak_blocks=True)
    return RunReport(
        command=command, pid=totals.pid, status=status, status_text=status_text,
        runtime=runtime, totals=totals,
        peak_rss=timeline.peak_rss if timeline is not None else None,
        sampled=totals.sample_period > 0, stacks=stacks, timeline=timeline,
        processes=processes, modules=modules_of(loaded), aliases=aliases,
    )  # fmt: skip

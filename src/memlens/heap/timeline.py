"""Memory over time: samples of a stats table's counters and the process's RSS.

``memlens run`` reads the shim's shared counters every ``--interval`` (no
signal, the program never stops): the live heap total, RSS from
``/proc/PID/statm``, allocation/free counts and the largest stacks by live
bytes at that moment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from memlens.heap.stats_table import StatsTable

TOP_PER_SAMPLE = 8
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Sample:
    """One moment: ``t`` seconds after the program started."""

    t: float
    live_bytes: int
    rss: int | None
    allocs: int
    frees: int
    top: tuple[tuple[int, int], ...]  # (stack id, live bytes), largest first


@dataclass(slots=True)
class Timeline:
    interval: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def peak_rss(self) -> int | None:
        values = [s.rss for s in self.samples if s.rss is not None]
        return max(values) if values else None


def rss_of(pid: int) -> int | None:
    """Resident bytes of ``pid`` now (``/proc/PID/statm``), None once it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def take_sample(table: StatsTable, now_ns: int, rss: int | None) -> Sample:
    """Read the table's counters (and its largest stacks) at ``now_ns`` (CLOCK_MONOTONIC)."""
    c = table.quick_counts()
    live = table.live_by_stack()
    top: tuple[tuple[int, int], ...] = ()
    if len(live):
        k = min(TOP_PER_SAMPLE, len(live))
        idx = np.argpartition(live, len(live) - k)[len(live) - k :]
        idx = idx[np.argsort(-live[idx].astype(np.int64), kind="stable")]
        top = tuple((int(i), int(live[i])) for i in idx if live[i])
    return Sample(
        t=max(now_ns - c.start_ns, 0) / 1e9,
        live_bytes=c.live_bytes,
        rss=rss,
        allocs=c.allocs,
        frees=c.frees,
        top=top,
    )


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int = 60) -> str:
    """``values`` (resampled to ``width`` columns by their maximum) as block characters."""
    if not values:
        return ""
    n = len(values)
    cols = min(width, n)
    arr = np.asarray(values, dtype=np.float64)
    edges = np.linspace(0, n, cols + 1).astype(int)
    maxima = [arr[edges[i] : max(edges[i + 1], edges[i] + 1)].max() for i in range(cols)]
    top = max(maxima) or 1.0
    steps = len(SPARK) - 1
    return "".join(SPARK[min(int(v / top * steps + 0.5), steps)] for v in maxima)

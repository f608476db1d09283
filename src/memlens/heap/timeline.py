"""Memory over time: samples of a stats table's counters and the process's RSS.

``memlens run`` reads the shim's shared counters every ``--interval`` (no
signal, the program never stops): the live heap total, RSS from
``/proc/PID/statm``, allocation/free counts, and each stack whose live figures
changed since the previous sample (its live bytes and blocks then) -- so the
live figures of every stack are known at every sample (``live_at``), and
``heap diff`` can compare any two moments.  The largest stacks of each moment
(``top``) are worked out from those after the run, not while it runs: a tick
costs the program's machine a few array operations and one ``pread``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from memlens.heap.stats_table import StatsTable

TOP_PER_SAMPLE = 8
# Stack changes kept before the stacks are read at every other sample only (then every
# 4th after twice as many, ...): a program with thousands of busy stacks keeps its
# timeline (and report.json) to tens of MB however long it runs.
STACK_BUDGET = 1_000_000
_PAGE = os.sysconf("SC_PAGE_SIZE")
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class StackChanges:
    """The stacks (table rows) whose live figures changed since the previous sample,
    with their live bytes and blocks at this one."""

    ids: I64
    live_bytes: I64
    live_blocks: I64


NO_CHANGES = StackChanges(*(np.zeros(0, dtype=np.int64) for _ in range(3)))


@dataclass(frozen=True, slots=True, eq=False)
class Sample:
    """One moment: ``t`` seconds after the program started."""

    t: float
    live_bytes: int
    rss: int | None
    allocs: int
    frees: int
    top: tuple[tuple[int, int], ...] = ()  # (stack id, live bytes), largest first
    changed: StackChanges = NO_CHANGES
    #: whether the stacks were read at this sample (past STACK_BUDGET only some are)
    stacks: bool = True


@dataclass(slots=True)
class Timeline:
    interval: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def peak_rss(self) -> int | None:
        values = [s.rss for s in self.samples if s.rss is not None]
        return max(values) if values else None

    def live_at(self, index: int) -> tuple[I64, I64]:
        """Every stack's live bytes and blocks at sample ``index`` (arrays by row id)."""
        size = 1 + max((int(s.changed.ids.max()) for s in self.samples[: index + 1]
                        if len(s.changed.ids)), default=-1)  # fmt: skip
        live, blocks = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
        for s in self.samples[: index + 1]:
            live[s.changed.ids] = s.changed.live_bytes
            blocks[s.changed.ids] = s.changed.live_blocks
        return live, blocks

    def fill_tops(self) -> None:
        """Each sample's largest stacks, from the changes recorded at the ticks (a sample
        whose stacks were not read shows those of the latest one that were)."""
        live = np.zeros(0, dtype=np.int64)
        out = []
        for s in self.samples:
            ids = s.changed.ids
            if len(ids):
                grow = int(ids.max()) + 1 - len(live)
                if grow > 0:
                    live = np.concatenate([live, np.zeros(grow, dtype=np.int64)])
                live[ids] = s.changed.live_bytes
            out.append(replace(s, top=largest(live)))
        self.samples = out


def largest(live: I64) -> tuple[tuple[int, int], ...]:
    """The TOP_PER_SAMPLE stacks with the most live bytes (id, bytes), largest first."""
    if not len(live):
        return ()
    k = min(TOP_PER_SAMPLE, len(live))
    idx = np.argpartition(live, len(live) - k)[len(live) - k :]
    idx = idx[np.argsort(-live[idx], kind="stable")]
    return tuple((int(i), int(live[i])) for i in idx if live[i] > 0)


class RssReader:
    """Resident bytes of ``pid`` (``/proc/PID/statm``), the file kept open between reads."""

    def __init__(self, pid: int) -> None:
        try:
            self._fd: int | None = os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def read(self) -> int | None:
        """Resident bytes now, None once the process is gone."""
        if self._fd is None:
            return None
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            self.close()
            return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Sampler:
    """Takes the samples of one table: remembers the live figures of the stacks when they
    were last read, so each sample keeps only the stacks that changed since."""

    def __init__(self, table: StatsTable) -> None:
        self.table = table
        self._bytes = np.zeros(0, dtype=np.int64)
        self._blocks = np.zeros(0, dtype=np.int64)
        self._taken = 0
        self._stride = 1  # read the stacks at every stride-th sample
        self._kept = 0  # stack changes kept so far

    def take(self, now_ns: int, rss: int | None, last: bool = False) -> Sample:
        """Read the table's counters at ``now_ns`` (CLOCK_MONOTONIC), and the stacks that
        changed (at every sample until STACK_BUDGET changes are kept; always when ``last``)."""
        c = self.table.quick_counts()
        t = max(now_ns - c.start_ns, 0) / 1e9
        self._taken += 1
        if not last and self._taken % self._stride:
            return Sample(t, c.live_bytes, rss, c.allocs, c.frees, stacks=False)
        live, blocks = self.table.live_by_stack()
        prev_b, prev_n = self._bytes, self._blocks
        if len(prev_b) < len(live):  # stacks added since: they were at 0
            grow = len(live) - len(prev_b)
            prev_b = np.concatenate([prev_b, np.zeros(grow, dtype=np.int64)])
            prev_n = np.concatenate([prev_n, np.zeros(grow, dtype=np.int64)])
        # live and blocks are views of the shared table: keep copies to compare with
        diff = live != prev_b
        diff |= blocks != prev_n
        changed = NO_CHANGES
        if diff.any():
            ids = np.flatnonzero(diff)
            prev_b[ids], prev_n[ids] = live[ids], blocks[ids]
            changed = StackChanges(ids, prev_b[ids], prev_n[ids])
            self._kept += len(ids)
            if self._kept >= STACK_BUDGET * self._stride:
                self._stride *= 2
        self._bytes, self._blocks = prev_b, prev_n
        return Sample(t, c.live_bytes, rss, c.allocs, c.frees, changed=changed)


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

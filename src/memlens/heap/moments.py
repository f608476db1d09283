"""Two moments of a run's timeline compared: which stacks grew or shrank in between.

Every timeline sample keeps the table rows whose live figures changed since
the one before (:class:`memlens.heap.timeline.StackChanges`), so the live
bytes and blocks of every stack are known at every sample.  A moment is
named as a user of heaptrack or memray would: seconds from the program's
start (``1.2s``, ``350ms``, ``2``), a sample number (``#12``), or ``start``,
``peak`` (the sample with the most live heap) and ``end``.  Seconds pick the
last sample taken at or before that time (that read the stacks: past
:data:`memlens.heap.timeline.STACK_BUDGET` not every sample does): the heap as it
stood then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from memlens.errors import UsageError
from memlens.heap.timeline import I64, Timeline

_SECONDS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(s|ms)?")
NAMED = ("start", "peak", "end")
MOMENT_HELP = "seconds from the start (1.2s, 350ms), a sample number (#12), start, peak or end"


@dataclass(frozen=True, slots=True)
class Moment:
    """A moment as given: ``seconds``, ``index`` (a sample number) or one of NAMED."""

    text: str
    kind: str
    value: float = 0.0


def parse_moment(text: str) -> Moment:
    """``text`` as a moment.

    Raises:
        UsageError: not a moment.
    """
    t = text.strip().lower()
    if t in NAMED:
        return Moment(text, t)
    if t.startswith("#") and t[1:].isdigit():
        return Moment(text, "index", float(int(t[1:])))
    m = _SECONDS.fullmatch(t)
    if m is None:
        raise UsageError(f"not a moment: {text!r} (give {MOMENT_HELP})")
    seconds = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    return Moment(text, "seconds", seconds)


def sample_at(timeline: Timeline, moment: Moment) -> int:
    """The index of the sample that stands for ``moment``: the one it names, or the
    latest before it that read the stacks (the first and last samples always do).

    Raises:
        UsageError: the moment is outside the run (or the run has no samples).
    """
    samples = timeline.samples
    if not samples:
        raise UsageError("the run's timeline has no samples")
    last = len(samples) - 1
    if moment.kind == "start":
        at = 0
    elif moment.kind == "end":
        at = last
    elif moment.kind == "peak":
        read = [i for i, s in enumerate(samples) if s.stacks]
        at = read[int(np.argmax([samples[i].live_bytes for i in read]))]
    elif moment.kind == "index":
        if moment.value > last:
            raise UsageError(f"{moment.text}: the timeline has samples #0 to #{last}")
        at = int(moment.value)
    else:
        end = samples[-1].t
        if moment.value > end + timeline.interval:
            raise UsageError(f"{moment.text}: the run's timeline ends at {end:.3f} s")
        times = np.array([s.t for s in samples])
        at = max(int(np.searchsorted(times, moment.value, side="right")) - 1, 0)
    while at > 0 and not samples[at].stacks:
        at -= 1
    return at


@dataclass(frozen=True, slots=True)
class StackGrowth:
    """One stack's live figures at the two moments."""

    id: int
    bytes_before: int
    bytes_after: int
    blocks_before: int
    blocks_after: int

    @property
    def bytes_delta(self) -> int:
        return self.bytes_after - self.bytes_before

    @property
    def blocks_delta(self) -> int:
        return self.blocks_after - self.blocks_before


@dataclass(frozen=True, slots=True)
class MomentDiff:
    """The heap at sample ``before`` against sample ``after``: stacks whose live figures
    differ, largest growth first."""

    before: int
    after: int
    t_before: float
    t_after: float
    total_before: int
    total_after: int
    stacks: list[StackGrowth]


def by_stack(rows: I64, aliases: dict[int, int]) -> dict[int, int]:
    """Row figures summed per stack (a stack has one table row per thread)."""
    out: dict[int, int] = {}
    for row in np.flatnonzero(rows):
        sid = aliases.get(int(row), int(row))
        out[sid] = out.get(sid, 0) + int(rows[row])
    return out


def diff_moments(timeline: Timeline, aliases: dict[int, int], a: int, b: int) -> MomentDiff:
    """Every stack whose live bytes or blocks differ between samples ``a`` and ``b``."""
    (bytes_a, blocks_a), (bytes_b, blocks_b) = timeline.live_at(a), timeline.live_at(b)
    ba, na = by_stack(bytes_a, aliases), by_stack(blocks_a, aliases)
    bb, nb = by_stack(bytes_b, aliases), by_stack(blocks_b, aliases)
    ids = set(ba) | set(bb) | set(na) | set(nb)
    stacks = [
        StackGrowth(i, ba.get(i, 0), bb.get(i, 0), na.get(i, 0), nb.get(i, 0))
        for i in ids
        if ba.get(i, 0) != bb.get(i, 0) or na.get(i, 0) != nb.get(i, 0)
    ]
    stacks.sort(key=lambda s: (-s.bytes_delta, -s.blocks_delta, s.id))
    sa, sb = timeline.samples[a], timeline.samples[b]
    return MomentDiff(a, b, sa.t, sb.t, sa.live_bytes, sb.live_bytes, stacks)

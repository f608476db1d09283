"""What ``memlens run`` reports: the summary and heaptrack-like sections from a stats table.

The figures come from the shim's accounting table (complete whatever way the
program ended), so nothing here needs the process: peak heap and when, the
allocation/free/temporary counts, what was live at exit, per stack.  The
sections are one list of stacks sorted five ways:

=============  ==========================================  =================
section        sorted by                                   heaptrack_print
=============  ==========================================  =================
``peak``       live bytes at the global heap peak          PEAK MEMORY CONSUMERS
``leaks``      live bytes at the end (not freed)           MEMORY LEAKS
``calls``      allocation calls                            MOST CALLS TO ALLOCATION FUNCTIONS
``temporary``  temporary allocations                       MOST TEMPORARY ALLOCATIONS
``allocated``  bytes allocated in total                    MOST MEMORY ALLOCATED
=============  ==========================================  =================
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from memlens.core.module import Module
from memlens.heap.pyframes import PyFrame, split_stack
from memlens.heap.stats_table import StackRows, Totals
from memlens.heap.timeline import Timeline
from memlens.symbols.frame import Frame

SECTIONS: dict[str, tuple[str, str]] = {
    "peak": ("peak_bytes", "peak contributors (live bytes at the heap peak)"),
    "leaks": ("live_bytes", "leaks (live at exit)"),
    "calls": ("allocs", "most allocation calls"),
    "temporary": ("temps", "most temporary allocations (freed before the thread's next one)"),
    "allocated": ("bytes", "largest total allocated"),
}


@dataclass(frozen=True, slots=True)
class StackStats:
    """One call stack's figures over the whole run."""

    id: int
    stack: tuple[int, ...]
    allocs: int
    frees: int
    bytes: int
    live_bytes: int
    live_blocks: int
    temps: int
    peak_bytes: int
    peak_blocks: int
    frames: tuple[Frame, ...] = ()

    def value(self, column: str) -> int:
        return int(getattr(self, column))


@dataclass(slots=True)
class RunReport:
    """A program's heap over its whole run (one process image)."""

    command: list[str]
    pid: int
    status: int  # as a shell reports it: the exit status, or 128 + N when killed by signal N
    status_text: str
    runtime: float
    totals: Totals
    peak_rss: int | None
    sampled: bool
    stacks: list[StackStats]
    timeline: Timeline | None
    processes: int = 1
    modules: list[Module] = field(default_factory=list)
    #: every table row's id -> the id of the stack it was summed into (rows are per thread)
    aliases: dict[int, int] = field(default_factory=dict)

    @property
    def command_text(self) -> str:
        """The command on one line, as a shell would take it, at most 120 characters."""
        text = shlex.join(self.command).replace("\n", "\\n")
        return text if len(text) <= 120 else text[:119] + "…"

    @property
    def leaked_bytes(self) -> int:
        return self.totals.live_bytes

    def section(self, name: str, top: int | None = None) -> list[StackStats]:
        """The stacks of one section, largest first, zero rows left out."""
        column = SECTIONS[name][0]
        rows = [s for s in self.stacks if s.value(column) > 0]
        rows.sort(key=lambda s: (-s.value(column), s.id))
        return rows if top is None else rows[:top]


def stack_aliases(rows: StackRows, stacks: list[StackStats]) -> dict[int, int]:
    """Each used row's id -> the id of its stack in ``stacks`` (see :func:`stack_stats`)."""
    by_stack = {s.stack: s.id for s in stacks}
    used = np.flatnonzero(rows.allocs > 0)
    return {int(i): by_stack[rows.stacks[i]] for i in used if rows.stacks[i] in by_stack}


def stack_stats(rows: StackRows) -> list[StackStats]:
    """Rows of the table that ever allocated, as values; one per stack.

    The shim keeps a row per (stack, thread) -- its 16-byte block records have
    no room for the thread -- so rows with the same frames are summed here (the
    peak columns too: every row's figure is of the same moment).
    """
    used = np.flatnonzero(rows.allocs > 0)
    columns = (rows.allocs, rows.frees, rows.bytes, rows.live_bytes, rows.live_blocks, rows.temps,
               rows.peak_bytes, rows.peak_blocks)  # fmt: skip
    # the used rows of each column as Python ints, one conversion per column
    per_row = list(zip(*(np.asarray(c)[used].tolist() for c in columns), strict=True))
    merged: dict[tuple[int, ...], list[int]] = {}
    for i, values_of_row in zip(used.tolist(), per_row, strict=True):
        stack = rows.stacks[i]
        acc = merged.get(stack)
        values = list(values_of_row)
        if acc is None:
            merged[stack] = [int(i), *values]
        else:
            acc[1:] = [a + v for a, v in zip(acc[1:], values, strict=True)]
    return [
        StackStats(id=v[0], stack=stack, allocs=v[1], frees=v[2], bytes=v[3], live_bytes=v[4],
                   live_blocks=v[5], temps=v[6], peak_bytes=v[7], peak_blocks=v[8])
        for stack, v in merged.items()
    ]  # fmt: skip


def symbolize_stacks(
    stacks: list[StackStats],
    symbolize: Callable[[Sequence[int]], dict[int, Frame]],
    top: int | None,
    python: dict[tuple[int, int], PyFrame] | None = None,
    *,
    native: bool = False,
) -> list[StackStats]:
    """Frames for the stacks any section shows (all of them when ``top`` is None).

    Python frames in a stack (two tagged words each) are named from ``python`` (the
    names a snapshot read from the process while it ran); unless ``native``, a stack
    with Python frames shows them and the native frames below the innermost one.
    """
    from memlens.heap.report import frames_of  # the heap report's view of a stack

    shown: set[int] = set()
    for column, _title in SECTIONS.values():
        ranked = sorted(stacks, key=lambda s: (-s.value(column), s.id))
        shown.update(s.id for s in (ranked if top is None else ranked[:top]))
    splits = {s.id: split_stack(s.stack) for s in stacks if s.id in shown}
    natives = {e for entries in splits.values() for e in entries if isinstance(e, int)}
    table = symbolize(sorted(natives))
    for a in natives:
        table.setdefault(a, Frame(address=a))
    out = []
    made: dict[tuple[int, int], Frame] = {}
    for s in stacks:
        if s.id in shown:
            frames = frames_of(splits[s.id], table, python or {}, native=native, made=made)
        else:
            frames = tuple(Frame(address=a) for a in s.stack)
        out.append(_with_frames(s, frames))
    return out


def _with_frames(s: StackStats, frames: tuple[Frame, ...]) -> StackStats:
    return StackStats(s.id, s.stack, s.allocs, s.frees, s.bytes, s.live_bytes, s.live_blocks,
                      s.temps, s.peak_bytes, s.peak_blocks, frames)  # fmt: skip


def exit_status(returncode: int) -> tuple[int, str]:
    """A Popen return code as a shell's status (128 + N for signal N) and in words."""
    if returncode < 0:
        return 128 - returncode, f"killed by signal {-returncode}"
    return returncode, f"exit status {returncode}"

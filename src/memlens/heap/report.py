"""From a target to a heap report: scan, group by identical stack, symbolize, filter.

Groups are sorted by live bytes (largest first).  In sampled mode
(``MEMLENS_SAMPLE``) only sampled blocks carry stacks (format-1 records); each
stands for ``1 / P`` blocks of its size with ``P = 1 - exp(-size / period)``
(tcmalloc's estimator), so group totals are unbiased estimates.  The others
(compact format-2 records, flagged sampled-mode without a stack) weigh 0 in the
groups but count in the heap total, which stays exact: every block has a record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.heap import pyframes
from memlens.heap.model import HeapBlocks, HeapProfile
from memlens.heap.records import (
    FLAG_INTERNAL,
    FLAG_SAMPLED,
    FLAG_STACK,
    scan_space,
    scannable,
)
from memlens.heap.symbolize import modules_of, symbolize_returns
from memlens.heap.tablefile import with_table_files
from memlens.sources.live.coredump import present_runs
from memlens.symbols.frame import AddressSymbolizer, Frame
from memlens.symbols.modmap import build_module_map

SIZES_KEPT = 1000  # sizes listed per group (address order); the count is always exact


@dataclass(frozen=True, slots=True)
class Group:
    """Live blocks allocated from one call stack."""

    stack: tuple[int, ...]
    bytes: int
    count: int
    sizes: tuple[int, ...]
    est_bytes: float
    est_count: float
    frames: tuple[Frame, ...] = ()


@dataclass(slots=True)
class HeapReport:
    """Groups plus the totals they are measured against."""

    groups: list[Group]
    total_bytes: int
    total_count: int
    sampled: bool
    profile: HeapProfile

    def percent(self, group: Group) -> float:
        return 100.0 * group.est_bytes / self.total_bytes if self.total_bytes else 0.0


def present_ranges(snap: Snapshot) -> list[tuple[int, int, int]] | None:
    """(start, end, region end) of the present pages of the writable regions, for a source
    with residency (a live process); None when it has none (then every saved byte is read).

    Reading a page that is not present would fault it in (a never-touched
    5 GiB block would cost 5 GiB and seconds): only present pages are read.
    """
    if not snap.has_residency:
        return None
    out: list[tuple[int, int, int]] = []
    for region, table in snap.iter_page_tables(scannable(snap.space), counts=False, kpage=False):
        if table is None or table.partial:
            return None  # not known for every page: read as before
        for first, pages in present_runs(table):
            lo = table.start + first * table.page_size
            hi = lo + pages * table.page_size
            out.append((lo, min(hi, region.end), region.end))
    return out


def profile_from_snapshot(snap: Snapshot, reason: str | None = None) -> HeapProfile:
    """Scan ``snap`` for records (only present pages of a live process) and its modules.

    A core of a ``memlens run`` program lacks the shim's stack table (a shared file
    mapping): it is read from its file when that is still there (heap/tablefile.py).
    """
    snap = with_table_files(snap)
    blocks, warnings = scan_space(snap.space, present_ranges(snap), snap.pid)
    loaded = build_module_map(snap)
    arch = snap.arch
    extra: dict[str, object] = {}
    if pyframes.has_python(blocks.stacks):
        # Named now, while the code objects can be read: a saved profile keeps the names.
        extra["python_frames"] = pyframes.resolve(snap.space, blocks.stacks)
    return HeapProfile(
        blocks=blocks,
        modules=modules_of(loaded),
        source=snap.source,
        format=snap.format,
        pid=snap.pid,
        command_line=snap.command_line,
        reason=reason,
        time=time.time(),
        word_size=arch.word_size if arch else snap.space.word_size,
        byteorder=snap.space.byteorder,
        warnings=[*snap.warnings, *warnings],
        extra=extra,
        loaded=loaded,
    )


def weights(blocks: HeapBlocks) -> npt.NDArray[np.float64]:
    """How many blocks each block stands for: 1, or 1/P for sampled blocks."""
    w = np.ones(len(blocks), dtype=np.float64)
    sampled = (blocks.flags & np.uint64(FLAG_SAMPLED)) != 0
    stacked = (blocks.flags & np.uint64(FLAG_STACK)) != 0
    period = blocks.period.astype(np.float64)
    use = sampled & stacked & (period > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = -np.expm1(-blocks.size.astype(np.float64) / np.where(period > 0, period, 1.0))
    w[use] = 1.0 / np.maximum(p[use], 1e-300)
    w[sampled & ~stacked] = 0.0  # unsampled: represented by the sampled ones
    return w


def group_blocks(blocks: HeapBlocks) -> list[Group]:
    """Groups by stack, largest estimated bytes first (ties: by stack for a stable order)."""
    if len(blocks) == 0:
        return []
    w = weights(blocks)
    keep = w > 0
    ids = blocks.stack_id[keep]
    sizes = blocks.size[keep]
    wk = w[keep]
    m = len(blocks.stacks)
    exact_bytes = np.bincount(ids, weights=sizes.astype(np.float64), minlength=m)
    counts = np.bincount(ids, minlength=m)
    est_bytes = np.bincount(ids, weights=sizes.astype(np.float64) * wk, minlength=m)
    est_count = np.bincount(ids, weights=wk, minlength=m)
    order = np.argsort(ids, kind="stable")  # blocks are in address order already
    split = np.split(sizes[order], np.cumsum(counts)[:-1])
    groups = [
        Group(
            stack=blocks.stacks[i],
            bytes=int(exact_bytes[i]),
            count=int(counts[i]),
            sizes=tuple(int(s) for s in split[i][:SIZES_KEPT]),
            est_bytes=float(est_bytes[i]),
            est_count=float(est_count[i]),
        )
        for i in range(m)
        if counts[i]
    ]
    groups.sort(key=lambda g: (-g.est_bytes, -g.count, g.stack))
    return groups


@dataclass(frozen=True, slots=True)
class Filters:
    min_size: int = 0
    modules: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    top: int | None = None
    #: Python stacks: every native frame (else only those below the innermost Python frame)
    native: bool = False


def _matches(
    frames: Sequence[Frame], needles: Sequence[str], attr: Callable[[Frame], str | None]
) -> bool:
    return any(n in (attr(f) or "") for f in frames for n in needles)


def build_report(
    profile: HeapProfile,
    symbolize: Callable[[Sequence[int]], dict[int, Frame]] | None = None,
    filters: Filters | None = None,
) -> HeapReport:
    """Group, symbolize (``symbolize`` maps return addresses to frames) and filter."""
    f = filters or Filters()
    blocks = profile.blocks
    # The shim's own blocks (its unwinder's caches, start-up) are not the program's.
    internal = (blocks.flags & np.uint64(FLAG_INTERNAL)) != 0
    if bool(internal.any()):
        blocks = blocks.take(~internal)
    total_bytes, total_count = blocks.total_bytes, len(blocks)
    sampled = bool(np.any((blocks.flags & np.uint64(FLAG_SAMPLED)) != 0))
    if f.min_size:
        blocks = blocks.take(blocks.size >= np.uint64(f.min_size))
    groups = group_blocks(blocks)
    natives = [e for g in groups for e in pyframes.split_stack(g.stack) if isinstance(e, int)]
    table = (
        symbolize(natives) if symbolize is not None else {a: Frame(address=a) for a in natives}
    )
    py_table = pyframes.table_from_rows(profile.extra.get("python_frames"))
    groups = [
        Group(g.stack, g.bytes, g.count, g.sizes, g.est_bytes, g.est_count,
              stack_frames(g.stack, table, py_table, native=f.native))
        for g in groups
    ]  # fmt: skip
    if py_table and not f.native:
        groups = merge_same_frames(groups)
    if f.modules:
        groups = [g for g in groups if _matches(g.frames, f.modules, lambda fr: fr.module)]
    if f.functions:
        groups = [g for g in groups if _matches(g.frames, f.functions, lambda fr: fr.function)]
    if f.top is not None:
        groups = groups[: f.top]
    return HeapReport(
        groups=groups,
        total_bytes=total_bytes,
        total_count=total_count,
        sampled=sampled,
        profile=profile,
    )


def symbolize_with(symbolizer: AddressSymbolizer) -> Callable[[Sequence[int]], dict[int, Frame]]:
    return lambda addrs: symbolize_returns(symbolizer, addrs)


def python_frame(
    entry: tuple[int, int], py_table: dict[tuple[int, int], pyframes.PyFrame]
) -> Frame:
    """A Python frame as a :class:`Frame`: the code object's address, qualified name, file, line."""
    known = py_table.get(entry)
    if known is None:
        return Frame(address=entry[0] & pyframes.ADDRESS_MASK)
    return Frame(address=known.code, function=known.function, file=known.file, line=known.line)


def stack_frames(
    stack: Sequence[int],
    table: dict[int, Frame],
    py_table: dict[tuple[int, int], pyframes.PyFrame],
    *,
    native: bool,
    made: dict[tuple[int, int], Frame] | None = None,
) -> tuple[Frame, ...]:
    """The frames of one stack, innermost first.  Unless ``native``, a stack with
    Python frames keeps only the native frames below its innermost Python frame
    (the C code the Python line called) and then the Python frames (memray's view).
    ``made`` keeps each Python frame's :class:`Frame` for the next stacks (one object
    per frame, not per stack: the renderers memoize by object)."""
    return frames_of(pyframes.split_stack(stack), table, py_table, native=native, made=made)


def frames_of(
    entries: Sequence[int | tuple[int, int]],
    table: dict[int, Frame],
    py_table: dict[tuple[int, int], pyframes.PyFrame],
    *,
    native: bool,
    made: dict[tuple[int, int], Frame] | None = None,
) -> tuple[Frame, ...]:
    """:func:`stack_frames` of a stack already split (:func:`pyframes.split_stack`)."""
    out: list[Frame] = []
    seen_python = False
    made = {} if made is None else made
    for entry in entries:
        if isinstance(entry, tuple):
            seen_python = True
            frame = made.get(entry)
            if frame is None:
                frame = made[entry] = python_frame(entry, py_table)
            out.append(frame)
        elif native or not seen_python:
            out.append(table[entry])
    return tuple(out)


def merge_same_frames(groups: list[Group]) -> list[Group]:
    """Groups whose shown frames are equal, as one (the largest one's stack kept)."""
    merged: dict[tuple[Frame, ...], Group] = {}
    for g in groups:
        m = merged.get(g.frames)
        if m is None:
            merged[g.frames] = g
            continue
        merged[g.frames] = Group(
            m.stack, m.bytes + g.bytes, m.count + g.count, (m.sizes + g.sizes)[:SIZES_KEPT],
            m.est_bytes + g.est_bytes, m.est_count + g.est_count, m.frames,
        )  # fmt: skip
    out = list(merged.values())
    out.sort(key=lambda g: (-g.est_bytes, -g.count, g.stack))
    return out

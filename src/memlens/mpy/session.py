"""One ``memlens mpy`` analysis from start to end: open the target, place the
firmware, find the heap (any word size), decode objects and the graph.

Renderers get a :class:`HeapReport`; nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError
from memlens.mpy.fragmentation import Fragmentation, fragmentation
from memlens.mpy.graph import OwnershipGraph, build, select_nodes
from memlens.mpy.heap import MpyHeap
from memlens.mpy.memory import analyse_any_word, prepare
from memlens.mpy.objects import HeapObject, objects
from memlens.mpy.symbols import FirmwareSymbols
from memlens.mpy.typediff import TypeDelta, diff
from memlens.sources.options import OpenOptions
from memlens.sources.raw import snapshot_count

Note = Callable[[str], None]


#: how a target is opened: :func:`memlens.targets.open_target`, given by the caller
OpenTarget = Callable[[str, OpenOptions], Snapshot]


@dataclass(slots=True)
class HeapReport:
    """An analysed heap with what the renderers draw from it.

    ``objects is None`` when only the allocation table could be read (``error``
    says why); ``exact`` is False when object types are not all known.
    """

    heap: MpyHeap
    source: str
    frag: Fragmentation
    objects: list[HeapObject] | None
    graph: OwnershipGraph | None
    error: str | None = None
    diff: list[TypeDelta] | None = None

    @property
    def exact(self) -> bool:
        return self.objects is not None and self.heap.type_warning() is None

    def select(self, limit: int) -> npt.NDArray[np.bool_]:
        """Which allocations a picture of at most ``limit`` nodes keeps."""
        n = len(self.objects or [])
        if self.graph is None:
            return np.ones(n, dtype=bool)
        return select_nodes(self.graph, n, limit)


def analyse_snapshot(
    snap: Snapshot,
    source: str,
    fw: FirmwareSymbols | None,
    *,
    fixed: bool = False,
    bounds: tuple[int, int] | None = None,
    note: Note | None = None,
    detail: bool = True,
) -> HeapReport:
    """Everything about the heap in an open snapshot (without ``detail``: the numbers,
    block states and types only -- what the ``mem_info`` table needs).

    Raises:
        FormatError: no heap found, or its tables are not saved.
    """
    mem = prepare(snap, fw)
    for text in mem.notes:
        if note is not None:
            note(text)
    fixed = fixed or (mem.symbols is not None and mem.symbols.word is not None)
    heap = analyse_any_word(mem.space, source, mem.symbols, fixed, bounds)
    frag = fragmentation(heap.states, heap.block_size)
    try:
        missing = heap.type_warning()
        graph = build(heap) if detail else None
        objs = objects(heap, graph=graph) if detail else []
    except FormatError as e:
        return HeapReport(heap, source, frag, None, None, str(e))
    if missing is not None:
        heap.warnings.append(missing)
    return HeapReport(heap, source, frag, objs, graph)


@contextmanager
def report(
    target: str,
    options: OpenOptions,
    fw: FirmwareSymbols | None,
    open_target: OpenTarget,
    *,
    fixed: bool = False,
    bounds: tuple[int, int] | None = None,
    note: Note | None = None,
    detail: bool = True,
) -> Iterator[HeapReport]:
    """Open ``target`` (with ``open_target``: the reader registry sits above the
    analyses) and analyse its heap; the target stays open inside the ``with``."""
    with open_target(target, options) as snap:
        yield analyse_snapshot(snap, snap.source, fw, fixed=fixed, bounds=bounds, note=note,
                               detail=detail)  # fmt: skip


def each_snapshot(
    target: str,
    options: OpenOptions,
    fw: FirmwareSymbols | None,
    open_target: OpenTarget,
    *,
    fixed: bool = False,
    bounds: tuple[int, int] | None = None,
    note: Note | None = None,
) -> Iterator[HeapReport]:
    """Every snapshot of a file of several (``options.snapshot_size`` each), in order,
    each with what changed since the one before; each is open while it is yielded.

    Raises:
        FormatError: the file cannot be read or is smaller than one snapshot.
    """
    size = options.snapshot_size or 0
    try:
        count = snapshot_count(os.path.getsize(target), size)
    except OSError as e:
        raise FormatError(target, None, e.strerror or str(e)) from None
    if count == 0:
        raise FormatError(target, 0, "file is smaller than one snapshot")
    prev: list[HeapObject] | None = None
    for k in range(count):
        with open_target(target, replace(options, snapshot=k)) as snap:
            r = analyse_snapshot(snap, f"{snap.source}#{k}", fw, fixed=fixed, bounds=bounds,
                                 note=note)  # fmt: skip
            if prev is not None and r.objects is not None:
                r.diff = diff(prev, r.objects)
            prev = r.objects
            yield r

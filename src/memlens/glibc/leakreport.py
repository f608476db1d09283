"""One result for ``memlens leaks``: the walk, its findings, the leak classes, the groups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memlens.core.snapshot import Snapshot
from memlens.glibc.chunktable import HeapWalk
from memlens.glibc.leakgroups import LeakGroup, group_leaks
from memlens.glibc.reach import LEAK_NAMES, Leak, Reachability, reachability
from memlens.glibc.resolve import Resolver
from memlens.glibc.shimmap import ShimView, shim_view
from memlens.glibc.walk import walk_heap
from memlens.glibc.wordsize import with_target_words


@dataclass(frozen=True, slots=True)
class LeakReport:
    target: str
    walk: HeapWalk
    reach: Reachability
    summary: dict[str, tuple[int, int]]  # class -> (blocks, bytes)
    groups: list[LeakGroup]
    shim: ShimView | None = None  # the shim's records, when the program ran under it

    @property
    def partial(self) -> bool:
        """The walk stopped early or a check failed: figures cover what was walked."""
        return not self.walk.complete or bool(self.walk.findings)


def leak_report(snapshot: Snapshot, *, reachable_groups: bool = False) -> LeakReport:
    """Walk, classify and group.  Under memlens's shim the program's pointers are the
    shim's (past its records): start pointers, sizes (requested) and groups (by
    allocation stack) follow them, and the shim's own blocks are not counted.

    Raises:
        NoHeapError: no glibc arena in the target.
    """
    snapshot = with_target_words(snapshot)
    walk = walk_heap(snapshot)
    blocks = Resolver(walk)
    shim = shim_view(snapshot, blocks)
    if shim is not None:
        first = blocks.start + shim.offset
        blocks.set_program_view(first, np.where(shim.recorded, first + shim.size, blocks.end))
    table = [shim.table] if shim is not None and shim.table is not None else []
    reach = reachability(snapshot, walk, blocks, table)
    kinds: tuple[Leak, ...] = (Leak.DEFINITELY, Leak.INDIRECTLY, Leak.POSSIBLY)
    if reachable_groups:
        kinds = (*kinds, Leak.REACHABLE)
    groups = group_leaks(snapshot, walk, reach, kinds, shim)
    if shim is None:
        summary = reach.summary(walk.usable()[reach.blocks.rows])
    else:
        summary = reach.summary(shim.size, shim.user)
        reach.notes.append(_shim_note(shim))
    return LeakReport(snapshot.source, walk, reach, summary, groups, shim)


def _shim_note(shim: ShimView) -> str:
    own = int(shim.internal.sum())
    note = (f"memlens's shim: {int(shim.recorded.sum()):,} blocks carry its record (sizes are "
            f"the requested ones); {own:,} of them are the shim's own, not counted")  # fmt: skip
    if shim.unmatched:
        note += f"; {shim.unmatched:,} records name no in-use chunk (ignored)"
    return note


__all__ = ["LEAK_NAMES", "LeakReport", "leak_report"]

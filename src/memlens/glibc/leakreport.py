"""One result for ``memlens leaks``: the walk, its findings, the leak classes, the groups."""

from __future__ import annotations

from dataclasses import dataclass

from memlens.core.snapshot import Snapshot
from memlens.glibc.chunktable import HeapWalk
from memlens.glibc.leakgroups import LeakGroup, group_leaks
from memlens.glibc.reach import LEAK_NAMES, Leak, Reachability, reachability
from memlens.glibc.walk import walk_heap
from memlens.glibc.wordsize import with_target_words


@dataclass(frozen=True, slots=True)
class LeakReport:
    target: str
    walk: HeapWalk
    reach: Reachability
    summary: dict[str, tuple[int, int]]  # class -> (blocks, bytes)
    groups: list[LeakGroup]

    @property
    def partial(self) -> bool:
        """The walk stopped early or a check failed: figures cover what was walked."""
        return not self.walk.complete or bool(self.walk.findings)


def leak_report(snapshot: Snapshot, *, reachable_groups: bool = False) -> LeakReport:
    """Walk, classify and group.

    Raises:
        NoHeapError: no glibc arena in the target.
    """
    snapshot = with_target_words(snapshot)
    walk = walk_heap(snapshot)
    reach = reachability(snapshot, walk)
    sizes = walk.usable()[reach.blocks.rows]
    kinds: tuple[Leak, ...] = (Leak.DEFINITELY, Leak.INDIRECTLY, Leak.POSSIBLY)
    if reachable_groups:
        kinds = (*kinds, Leak.REACHABLE)
    groups = group_leaks(snapshot, walk, reach, kinds)
    return LeakReport(snapshot.source, walk, reach, reach.summary(sizes), groups)


__all__ = ["LEAK_NAMES", "LeakReport", "leak_report"]

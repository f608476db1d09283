"""Open any heap source: a memlens heap snapshot (``.mlheap``) or any target memlens opens."""

from __future__ import annotations

import os
from collections.abc import Callable

from memlens.core.snapshot import Snapshot
from memlens.heap import profile_file
from memlens.heap.model import HeapProfile
from memlens.heap.report import profile_from_snapshot


def is_heap_file(target: str) -> bool:
    if not os.path.isfile(target):
        return False
    try:
        with open(target, "rb") as f:
            return profile_file.probe(f.read(8))
    except OSError:
        return False


def load_profile(target: str, open_snapshot: Callable[[str], Snapshot]) -> HeapProfile:
    """The heap of ``target``: read from a heap snapshot file, or scanned from the target.

    Raises:
        MemlensError: the target cannot be opened or read.
    """
    if is_heap_file(target):
        return profile_file.read(target)
    with open_snapshot(target) as snap:
        return profile_from_snapshot(snap)

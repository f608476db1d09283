"""Fragmentation of a heap: free bytes, the largest free run, a histogram of free runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memlens.mpy.atb import States, free_runs


@dataclass(frozen=True, slots=True)
class Fragmentation:
    free_bytes: int
    largest_free_bytes: int
    largest_over_free: float  # 1.0: all free memory in one run
    free_runs: int
    histogram: tuple[tuple[str, int, int], ...]  # (bucket in blocks, runs, blocks)


def _bucket(n: int) -> str:
    lo = 1 << (n.bit_length() - 1)
    hi = 2 * lo - 1
    return str(lo) if lo == hi else f"{lo}-{hi}"


def fragmentation(states: Sequence[States], block_size: int) -> Fragmentation:
    runs = np.concatenate([free_runs(s) for s in states]) if states else np.zeros(0, np.int64)
    free = int(runs.sum())
    largest = int(runs.max()) if len(runs) else 0
    hist: dict[int, list[int]] = {}
    for r in runs.tolist():
        slot = hist.setdefault(r.bit_length(), [0, 0])
        slot[0] += 1
        slot[1] += r
    rows = tuple((_bucket(1 << (k - 1)), c, b) for k, (c, b) in sorted(hist.items()))
    return Fragmentation(free * block_size, largest * block_size,
                         (largest / free) if free else 1.0, len(runs), rows)  # fmt: skip

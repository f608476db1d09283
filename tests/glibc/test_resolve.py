"""The granule table answers exactly what a search over block ranges answers."""

from __future__ import annotations

import numpy as np
import pytest

from memlens.glibc.resolve import Resolver
from memlens.glibc.walk import walk_heap
from memlens.targets import open_target
from tests.glibc.programs import build, gcore, running


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> Resolver:
    tmp = tmp_path_factory.mktemp("resolve")
    exe = build("arenas", tmp)
    with running(exe, "8", "fbm") as (proc, _):
        core = gcore(proc.pid, tmp / "core")
    with open_target(str(core)) as snap:
        return Resolver(walk_heap(snap))


def test_resolve_equals_a_search(resolver: Resolver) -> None:
    start, end = resolver.start, resolver.end
    assert np.all(start[1:] > start[:-1]) and np.all(end > start)
    rng = np.random.default_rng(1)
    picks = rng.integers(0, len(start), 4000)
    # block starts, interiors, last bytes, one past the end, headers, and random words
    values = np.concatenate([
        start[picks], start[picks] + np.uint64(8), end[picks] - np.uint64(1), end[picks],
        start[picks] - np.uint64(8), start[picks] - np.uint64(16),
        rng.integers(int(start[0]) - 4096, int(end[-1]) + 4096, 20000, dtype=np.uint64),
    ]).astype(np.uint64)  # fmt: skip
    got, is_start = resolver.resolve(values)
    i = np.searchsorted(start, values, side="right").astype(np.int64) - 1
    ic = np.maximum(i, 0)
    hit = (i >= 0) & (values < end[ic])
    expected = np.where(hit, i, -1)
    assert np.array_equal(got, expected)
    assert np.array_equal(is_start, hit & (values == start[ic]))

"""Which allocations a pruned ownership picture keeps (``--graph-nodes``)."""

from __future__ import annotations

from collections import deque

import numpy as np

from memlens.mpy.graph import FANOUT, OwnershipGraph, select_nodes


def _graph(edges: list[tuple[int, int]], roots: list[int], n: int) -> OwnershipGraph:
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    return OwnershipGraph(src, dst, np.zeros(len(edges), dtype=np.int64),
                          np.arange(len(roots), dtype=np.uint64),
                          np.array(roots, dtype=np.int64), np.ones(n, dtype=bool))  # fmt: skip


def _list_of_pairs(items: int) -> tuple[list[tuple[int, int]], int]:
    """0: a list's data holding ``items`` objects (1..items), each holding its own
    data block (items+1 ..): the shape of ``[Node(i) for i in range(N)]``."""
    edges = [(0, i) for i in range(1, items + 1)]
    edges += [(i, items + i) for i in range(1, items + 1)]
    return edges, 2 * items + 1


def test_a_long_list_shows_what_its_items_hold_not_only_siblings() -> None:
    edges, n = _list_of_pairs(500)
    keep = select_nodes(_graph(edges, [0], n), n, 40)
    kept = set(np.flatnonzero(keep).tolist())
    assert len(kept) == 40 and 0 in kept
    items = {i for i in kept if 1 <= i <= 500}
    held = {i for i in kept if i > 500}
    # the first pass takes FANOUT items and what each holds; later passes more items
    assert set(range(1, FANOUT + 1)) <= items
    assert {500 + i for i in range(1, FANOUT + 1)} <= held


def test_every_kept_node_joins_a_root_through_kept_nodes() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    edges = [(int(a), int(b)) for a, b in rng.integers(0, n, size=(4000, 2)) if a != b]
    roots = [0, 1, 2]
    keep = select_nodes(_graph(edges, roots, n), n, 500)
    assert int(keep.sum()) == 500
    # breadth first over kept nodes only, edges both ways, from the roots
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    start = [r for r in roots if keep[r]]
    reached, queue = set(start), deque(start)
    while queue:
        for v in adj.get(queue.popleft(), []):
            if keep[v] and v not in reached:
                reached.add(v)
                queue.append(v)
    assert reached == set(np.flatnonzero(keep).tolist())


def test_everything_kept_when_it_fits() -> None:
    edges, n = _list_of_pairs(10)
    assert select_nodes(_graph(edges, [0], n), n, n).all()

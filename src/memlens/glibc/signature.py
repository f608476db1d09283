"""Grouping leaked blocks: by size and by signature.

A C++ object with virtual functions starts with its vtable pointer, which
points into ``vtable for Class`` (``_ZTV...``) in a module: the symbols name
the class.  Other blocks are signed by what their first words hold --
``heap`` (a pointer into a block), ``module`` (into a mapped file), ``stack``,
``0``, ``int`` (small), ``text`` (printable bytes), ``word`` -- so blocks of
one C struct type mostly share a signature.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.glibc.reach import LEAK_NAMES, Leak, Reachability
from memlens.glibc.table import HeapWalk

U64 = npt.NDArray[np.uint64]
PATTERN_WORDS = 2
MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class LeakGroup:
    """Blocks of one class with one size and one signature."""

    kind: str
    size: int
    signature: str
    class_name: str | None
    count: int
    bytes: int
    examples: tuple[int, ...]  # user addresses, lowest first


def _vtable_classes(snapshot: Snapshot, first: U64) -> dict[int, str]:
    """First words that are vtable pointers -> class name."""
    from memlens.symbols.chain import symbolizer_for

    uniq = np.unique(first)
    file_backed = [r for r in snapshot.regions if r.path and not r.perms.write]
    cand = [int(v) for v in uniq.tolist() if any(r.start <= v < r.end for r in file_backed)]
    if not cand:
        return {}
    sym = symbolizer_for(snapshot, chain=("symtab",))
    out = {}
    for frame in sym.symbolize(cand):
        name = frame.function or ""
        if name.startswith("vtable for "):
            out[frame.address] = name[len("vtable for "):]
    return out


def _word_kind(snapshot: Snapshot, value: int, heap: tuple[int, int], word: int) -> str:
    if value == 0:
        return "0"
    if heap[0] <= value < heap[1]:
        return "heap"
    if value < 1 << 16:
        return "int"
    raw = value.to_bytes(word, "little")
    if all(32 <= b < 127 for b in raw):
        return "text"
    region = snapshot.space.region_at(value)
    if region is not None:
        return "module" if region.path else ("stack" if "stack" in region.name else "mapped")
    return "word"


def group_leaks(snapshot: Snapshot, walk: HeapWalk, reach: Reachability,
                kinds: tuple[Leak, ...] = (Leak.DEFINITELY, Leak.INDIRECTLY,
                                           Leak.POSSIBLY)) -> list[LeakGroup]:  # fmt: skip
    """Groups of the blocks in ``kinds``, largest total bytes first."""
    b = reach.blocks
    sel = np.flatnonzero(np.isin(reach.leak, [int(k) for k in kinds]))
    if not len(sel):
        return []
    w = walk.layout.word
    sizes = walk.usable()[b.row[sel]]
    heads = snapshot.space.read_many(b.start[sel], PATTERN_WORDS * w, pad=True)
    words = heads.view(np.uint64 if w == 8 else np.uint32).astype(np.uint64)
    classes = _vtable_classes(snapshot, words[:, 0])
    heap = (int(b.start[0]), int(b.end[-1]))
    acc: dict[tuple[str, int, str, str | None], list[int]] = defaultdict(list)
    for j, i in enumerate(sel.tolist()):
        first = int(words[j, 0])
        cls = classes.get(first)
        if cls is not None:
            sig = f"vtable for {cls}"
        else:
            sig = "[" + ", ".join(_word_kind(snapshot, int(v), heap, w)
                                  for v in words[j].tolist()) + "]"  # fmt: skip
        kind = LEAK_NAMES[Leak(int(reach.leak[i]))]
        acc[(kind, int(sizes[j]), sig, cls)].append(int(b.start[i]))
    groups = [LeakGroup(k, size, sig, cls, len(v), size * len(v), tuple(sorted(v)[:MAX_EXAMPLES]))
              for (k, size, sig, cls), v in acc.items()]  # fmt: skip
    order = {name: i for i, name in enumerate(LEAK_NAMES[k] for k in kinds)}
    groups.sort(key=lambda g: (order[g.kind], -g.bytes, g.size, g.signature))
    return groups

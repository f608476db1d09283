"""Grouping leaked blocks: by size and by signature.

A C++ object with virtual functions starts with its vtable pointer, which
points into ``vtable for Class`` (``_ZTV...``) in a module: the symbols name
the class.  Other blocks are signed by what their first words hold --
``heap`` (a pointer into a block), ``module`` (into a mapped file), ``stack``,
``0``, ``int`` (small), ``text`` (printable bytes), ``word`` -- so blocks of
one C struct type mostly share a signature.  When the program ran under
memlens's shim, blocks are also grouped by the allocation stack its record
names (glibc/shimmap.py): sizes are then the requested ones, signatures are
read at the shim's pointer, and the shim's own blocks are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.glibc.chunktable import HeapWalk
from memlens.glibc.reach import LEAK_NAMES, Leak, Reachability
from memlens.glibc.shimmap import ShimView, stack_frames_of
from memlens.symbols.frame import Frame

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
    examples: tuple[int, ...]  # user addresses (the program's pointers), lowest first
    stack: tuple[Frame, ...] = ()  # the shim's allocation stack, innermost first


def _vtable_classes(snapshot: Snapshot, first: U64) -> dict[int, str]:
    """First words that are vtable pointers -> class name."""
    from memlens.symbols.chain import symbolizer_for

    uniq = np.unique(first)
    regions = snapshot.space.region_map
    if not len(regions):
        return {}
    file_backed = np.array([bool(r.path) and not r.perms.write for _, _, r in regions], bool)
    i = regions.find_many(uniq)
    inside = (i >= 0) & file_backed[np.maximum(i, 0)]
    cand = uniq[inside].tolist()
    if not cand:
        return {}
    sym = symbolizer_for(snapshot, chain=("symtab",))
    out = {}
    for frame in sym.symbolize(cand):
        name = frame.function or ""
        if name.startswith("vtable for "):
            out[frame.address] = name[len("vtable for "):]
    return out


def _word_kinds(snapshot: Snapshot, values: U64, heap: tuple[int, int], word: int) -> list[str]:
    """What each value looks like: 0, heap, int, text, module, stack, mapped, word."""
    out = np.full(len(values), "word", dtype=object)
    regions = snapshot.space.region_map
    if len(regions):
        i = regions.find_many(values)
        inside = i >= 0
        label = np.array(["module" if r.path else "stack" if "stack" in r.name else "mapped"
                          for _, _, r in regions], dtype=object)  # fmt: skip
        out[inside] = label[i[inside]]
    raw = values.astype(f"<u{word}").view(np.uint8).reshape(len(values), word)
    out[((raw >= 32) & (raw < 127)).all(axis=1)] = "text"
    out[values < np.uint64(1 << 16)] = "int"
    out[(values >= np.uint64(heap[0])) & (values < np.uint64(heap[1]))] = "heap"
    out[values == 0] = "0"
    return [str(k) for k in out.tolist()]


def group_leaks(snapshot: Snapshot, walk: HeapWalk, reach: Reachability,
                kinds: tuple[Leak, ...] = (Leak.DEFINITELY, Leak.INDIRECTLY, Leak.POSSIBLY),
                shim: ShimView | None = None) -> list[LeakGroup]:  # fmt: skip
    """Groups of the blocks in ``kinds``, largest total bytes first."""
    b = reach.blocks
    wanted = np.isin(reach.leak, [int(k) for k in kinds])
    if shim is not None:
        wanted &= shim.user
    sel = np.flatnonzero(wanted)
    if not len(sel):
        return []
    w = walk.layout.word
    if shim is None:
        sizes = walk.usable()[b.rows[sel]]
        first = b.start[sel]
        stack_ids = np.full(len(sel), -1, np.int64)
    else:
        sizes, first, stack_ids = shim.size[sel], b.start[sel] + shim.offset[sel], shim.stack[sel]
    stacks = {} if shim is None else stack_frames_of(shim, sorted(set(stack_ids.tolist()) - {-1}))
    heads = snapshot.space.read_many(first, PATTERN_WORDS * w, pad=True)
    words = heads.view(np.uint64 if w == 8 else np.uint32).astype(np.uint64)
    classes = _vtable_classes(snapshot, words[:, 0])
    heap = (int(b.start[0]), int(b.end[-1]))
    acc: dict[tuple[str, int, str, str | None, int], list[int]] = defaultdict(list)
    names = {int(k): LEAK_NAMES[k] for k in Leak}
    kinds_of = np.array(_word_kinds(snapshot, words.ravel(), heap, w),
                        dtype=object).reshape(words.shape)  # fmt: skip
    firsts = words[:, 0].tolist()
    leaks = reach.leak[sel].tolist()
    ids = stack_ids.tolist()
    for j, (size, start) in enumerate(zip(sizes.tolist(), first.tolist(), strict=True)):
        cls = classes.get(firsts[j])
        sig = f"vtable for {cls}" if cls is not None else "[" + ", ".join(kinds_of[j]) + "]"
        acc[(names[leaks[j]], size, sig, cls, ids[j])].append(start)
    groups = [LeakGroup(k, size, sig, cls, len(v), size * len(v), tuple(sorted(v)[:MAX_EXAMPLES]),
                        stacks.get(sid, ()))
              for (k, size, sig, cls, sid), v in acc.items()]  # fmt: skip
    order = {name: i for i, name in enumerate(LEAK_NAMES[k] for k in kinds)}
    groups.sort(key=lambda g: (order[g.kind], -g.bytes, g.size, g.signature,
                               tuple(f.address for f in g.stack)))  # fmt: skip
    return groups

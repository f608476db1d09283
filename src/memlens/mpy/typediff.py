"""What changed between two snapshots of a heap, per type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memlens.mpy.objects import HeapObject


@dataclass(frozen=True, slots=True)
class TypeDelta:
    type: str
    allocated: int
    allocated_bytes: int
    freed: int
    freed_bytes: int


def diff(old: Sequence[HeapObject], new: Sequence[HeapObject]) -> list[TypeDelta]:
    """Allocations present only in ``new`` (allocated) or only in ``old`` (freed), per type.

    An allocation is identified by address, size and type: one freed and
    another allocated at the same place counts as both.
    """
    key_old = {(o.address, o.blocks, o.type): o for o in old}
    key_new = {(o.address, o.blocks, o.type): o for o in new}
    acc: dict[str, list[int]] = {}
    for k, o in key_new.items():
        if k not in key_old:
            slot = acc.setdefault(o.type, [0, 0, 0, 0])
            slot[0] += 1
            slot[1] += o.size
    for k, o in key_old.items():
        if k not in key_new:
            slot = acc.setdefault(o.type, [0, 0, 0, 0])
            slot[2] += 1
            slot[3] += o.size
    rows = [TypeDelta(t, *v) for t, v in acc.items()]
    rows.sort(key=lambda r: (-(r.allocated_bytes + r.freed_bytes), r.type))
    return rows

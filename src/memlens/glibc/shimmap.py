"""The shim's block records laid onto glibc's chunks, exactly.

Under memlens's shim (docs/formats.md, "The shim's records") the program
never holds what glibc's ``malloc`` returned: the shim asks glibc for a
larger block, writes its record at the start and hands out a pointer past
it.  So the pointer the program keeps -- the one reachability must treat as
the block's start -- lies ``offset`` bytes into the chunk's user memory:

* formats 2 and 3 (16-byte records: every block of exact mode, sampled and
  unsampled blocks of sampled mode): ``offset`` is 16, the underlying
  allocation starts two words before the shim's pointer;
* format 1 (the full record: over-aligned blocks, the shim's own): the word
  two before the shim's pointer holds ``offset`` (the word before it is the
  END magic); the underlying allocation is what glibc's ``memalign`` (or
  ``malloc``) returned.

A record is laid on a block only when the allocation it names starts exactly
at that block's user memory and the recorded size fits in what is left of
the block; then the block's size is the requested one (what valgrind
counts), and its stack is the record's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.glibc.resolve import Resolver
from memlens.heap.model import HeapProfile
from memlens.heap.records import COMPACT_WORDS, END_MAGIC, FLAG_INTERNAL, FLAG_STACK
from memlens.symbols.frame import Frame

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
SHIM_LIBRARY = "libmemlens_shim"
SHORT_OFFSET = COMPACT_WORDS * 8  # formats 2 and 3


@dataclass(frozen=True, slots=True)
class ShimView:
    """Per block of a :class:`Resolver` (its order): what the shim's record says."""

    offset: U64  # the shim's pointer minus glibc's; 0 without a record
    size: U64  # requested size from the record; glibc's usable size without one
    recorded: Bools
    internal: Bools  # the shim's own blocks (its unwinder's caches, start-up)
    stack: I64  # index into ``profile.blocks.stacks``; -1: no stack recorded
    profile: HeapProfile
    unmatched: int  # records naming no in-use block (none expected)
    table: tuple[int, int] | None = None  # the shim's stack table mapping: no root

    @property
    def user(self) -> Bools:
        """Blocks the program allocated (the shim's own left out)."""
        return ~self.internal


def shim_loaded(snapshot: Snapshot) -> bool:
    """Whether the shim's library is mapped in the target (else there is nothing to scan)."""
    return any(SHIM_LIBRARY in (r.path or "") for r in snapshot.regions)


def shim_view(snapshot: Snapshot, blocks: Resolver) -> ShimView | None:
    """Records of ``snapshot`` laid onto ``blocks``; None when the shim was not loaded
    or left no record."""
    if snapshot.space.word_size != 8 or not shim_loaded(snapshot):
        return None
    from memlens.heap.idrecords import find_stack_table
    from memlens.heap.report import profile_from_snapshot
    from memlens.heap.tablefile import with_table_files

    snapshot = with_table_files(snapshot)  # a core of `memlens run` lacks the table
    profile = profile_from_snapshot(snapshot)
    rec = profile.blocks
    if not len(rec) or not len(blocks):
        return None
    usable = blocks.end - blocks.start
    tails = snapshot.space.read_many(rec.address - np.uint64(2 * 8), 2 * 8, pad=True)
    words = tails.view("<u8" if snapshot.space.byteorder == "little" else ">u8")
    words = words.reshape(len(rec), 2).astype(np.uint64)
    full = words[:, 1] == np.uint64(END_MAGIC)
    offset = np.where(full, words[:, 0], np.uint64(SHORT_OFFSET))
    offset = np.where(offset <= rec.address, offset, rec.address)  # a damaged offset
    under = rec.address - offset
    i = np.searchsorted(blocks.start, under)
    ic = np.minimum(i, len(blocks) - 1)
    hit = (i < len(blocks)) & (blocks.start[ic] == under)
    hit &= offset + rec.size <= usable[ic]
    at = ic[hit]
    n = len(blocks)
    out_offset = np.zeros(n, np.uint64)
    out_offset[at] = offset[hit]
    size = usable.astype(np.uint64, copy=True)
    size[at] = rec.size[hit]
    recorded = np.zeros(n, bool)
    recorded[at] = True
    internal = np.zeros(n, bool)
    internal[at] = (rec.flags[hit] & np.uint64(FLAG_INTERNAL)) != 0
    stack = np.full(n, -1, np.int64)
    stacked = (rec.flags[hit] & np.uint64(FLAG_STACK)) != 0
    stack[at[stacked]] = rec.stack_id[hit][stacked]
    # keep the stacks, the modules and the Python frames, not the per-record columns
    profile = replace(profile, blocks=rec.take(np.zeros(len(rec), bool)))
    found = find_stack_table(snapshot.space, snapshot.pid)
    return ShimView(out_offset, size, recorded, internal, stack, profile, int((~hit).sum()),
                    None if found is None else (found.start, found.end))  # fmt: skip


def stack_frames_of(view: ShimView, ids: list[int]) -> dict[int, tuple[Frame, ...]]:
    """The symbolized frames (innermost first; Python frames named as ``memlens heap``
    names them) of the stacks ``ids`` of ``view``; an empty stack (not in this image's
    table) has none."""
    from memlens.heap import pyframes
    from memlens.heap.report import stack_frames
    from memlens.heap.symbolize import symbolize_returns, symbolizer_for_profile

    stacks = view.profile.blocks.stacks
    natives = sorted({e for i in ids for e in pyframes.split_stack(stacks[i])
                      if isinstance(e, int)})  # fmt: skip
    table = symbolize_returns(symbolizer_for_profile(view.profile), natives) if natives else {}
    py_table = pyframes.table_from_rows(view.profile.extra.get("python_frames"))
    return {i: stack_frames(stacks[i], table, py_table, native=False) for i in ids}

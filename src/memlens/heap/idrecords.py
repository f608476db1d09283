"""Format-3 block records (16 bytes, a stack id) and the shim's stack table they name.

Format 3 is what the shim writes for a block with a stack (every block in
exact mode, the sampled ones in sampled mode) whose alignment is at most 16
and whose size is below 2**40::

    u[-2]   requested size (bits 0-39) | stack id (bits 40-63)
    u[-1]   (ID magic | flags) + address of u[0], mod 2**64

The ID magic is ``0x3373504145484c40`` ("MLHEAPs3" with bits 0-3 clear; the
flags live there: 1 stack, 2 sampled).  Like format 2, the magic word is keyed
to the block's own address, so a copy of a record elsewhere is not one.  The
stack id indexes the entries of the shim's accounting table (see
:mod:`memlens.heap.stats_table`), which is in the same image: private
anonymous memory when the shim was preloaded by hand, a shared file mapping
under ``memlens run`` (readable live; a kernel core leaves file mappings out,
and the blocks' stacks are then unknown).  The table entry also holds the
thread that allocated (ids are per stack and thread).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace
from memlens.errors import AddressError, MemlensError
from memlens.heap.stats_table import ENTRY_FIXED, MAGIC, VERSION, header_field

U64 = npt.NDArray[np.uint64]

ID_MAGIC = 0x3373504145484C40
SIZE_BITS = 40
FLAG_BITS = 0xF
ID_FLAGS = 1 | 2  # stack, sampled mode
MASK64 = (1 << 64) - 1
_UPPER = 1 if sys.byteorder == "little" else 0  # the upper uint32 of a native uint64
_HEAD_BYTES = 320
MAX_STACKS = 1 << 24


@dataclass(frozen=True, slots=True)
class StackLookup:
    """The stacks of one table: frames (rows, zero padded), frame counts, threads."""

    start: int  # the table's mapping, to leave out of the record scan
    end: int
    pid: int
    period: int
    frames: U64
    nframes: U64
    tid: U64


def _table_at(space: AddressSpace, start: int, end: int) -> StackLookup | None:
    try:
        head = space.read(start, _HEAD_BYTES)
    except (AddressError, MemlensError):
        return None
    if header_field(head, "version") != VERSION:
        return None
    frames = header_field(head, "frames")
    esize = header_field(head, "entry_size")
    entries_off = header_field(head, "entries_off")
    count = min(header_field(head, "count"), header_field(head, "capacity"), MAX_STACKS)
    if not 1 <= frames <= 64 or esize != ENTRY_FIXED + 8 * frames:
        return None
    if start + entries_off + count * esize > end:
        return None
    try:
        raw = space.read(start + entries_off, count * esize, pad=True)
    except (AddressError, MemlensError):
        return None
    e = np.frombuffer(raw, dtype="<u8").astype(np.uint64).reshape(count, esize // 8)
    nframes = np.minimum(e[:, 1] & np.uint64(0xFFFFFFFF), np.uint64(frames))
    nframes[(e[:, 1] >> np.uint64(32)) != 1] = 0  # entries not yet written
    return StackLookup(
        start=start, end=end, pid=header_field(head, "pid"),
        period=header_field(head, "sample_period"),
        frames=e[:, 12 : 12 + frames].copy(), nframes=nframes, tid=e[:, 2 + 4].copy(),
    )  # fmt: skip


def find_stack_table(space: AddressSpace, pid: int | None = None) -> StackLookup | None:
    """The shim's table in ``space``: the one of ``pid`` when given and present, else the first.

    A table starts a mapping of its own, so only region starts are looked at.
    """
    found: list[StackLookup] = []
    for r in space.regions:
        if not r.perms.write or space.word(r.start) != MAGIC:
            continue
        table = _table_at(space, r.start, r.end)
        if table is not None:
            found.append(table)
    if not found:
        return None
    mine = [t for t in found if pid is not None and t.pid == pid]
    return (mine or found)[0]


def short_candidates(
    words: U64, base: int, limit: int | None, magics: tuple[int, ...]
) -> npt.NDArray[np.int64]:
    """Word indices that may hold the magic word of a 16-byte record (format 2 or 3).

    The magic word sits at an address = 8 (mod 16), right before 16-aligned user
    data, one word after the size word: word indices j0, j0 + 2, ...  A valid
    magic word is a magic plus an address of this chunk, so its upper 32 bits lie
    in a narrow range; one strided uint32 compare per 16 bytes finds the
    candidates of every magic in ``magics`` at once (the ranges of formats 2 and
    3 are 0x01100000 apart: one range covers both).
    """
    n_words = len(words)
    lim = n_words if limit is None else min(limit, n_words)
    j0 = 1 if base % 16 == 0 else 2
    hi = min(lim + 1, n_words)
    if hi <= j0:
        return np.zeros(0, dtype=np.int64)
    words = np.ascontiguousarray(words)  # for the uint32 view (scan_space's words already are)
    first = (min(magics) + base + 8 * (j0 + 1)) & MASK64
    last = (max(magics) + base + 8 * hi + FLAG_BITS) & MASK64  # user of word hi - 1
    upper = words.view(np.uint32)[_UPPER::2]
    top_lo = np.uint32(first >> 32)
    span = np.uint32(((last >> 32) - (first >> 32)) & 0xFFFFFFFF)
    return np.flatnonzero((upper[j0:hi:2] - top_lo) <= span) * 2 + j0


def scan_id_records(
    words: U64,
    base: int,
    limit: int | None,
    region_end: int | None,
    stacks: StackLookup | None,
    expand: bool = True,
    cand: npt.NDArray[np.int64] | None = None,
) -> dict[str, U64]:
    """Format-3 records whose size word lies in ``words[:limit]``, stacks resolved by ``stacks``.

    With ``expand`` each row gets its frames (``frames``/``nframes``, as the
    other formats); without, rows keep only the table id (``ref``) and
    :meth:`HeapBlocks.concat` maps ids to stacks once per distinct id -- a
    heap of millions of blocks from a few stacks never copies a frame per block.
    """
    n_words = len(words)
    empty = _no_rows()
    if cand is None:
        cand = short_candidates(words, base, limit, (ID_MAGIC,))
    if len(cand) == 0:
        return empty
    magic = words[cand]
    user = np.uint64(base) + (cand.astype(np.uint64) + np.uint64(1)) * np.uint64(8)
    flags = magic & np.uint64(FLAG_BITS)
    ok = ((magic - user) & np.uint64(~FLAG_BITS & MASK64)) == np.uint64(ID_MAGIC)
    ok &= (flags & np.uint64(1)) != 0  # a format-3 record always has a stack
    ok &= (flags & np.uint64(~ID_FLAGS & FLAG_BITS)) == 0
    sizeword = words[cand - 1]
    size = sizeword & np.uint64((1 << SIZE_BITS) - 1)
    stop = base + n_words * 8 if region_end is None else region_end
    ok &= size <= np.uint64(stop) - np.minimum(user, np.uint64(stop))
    user, size, flags, ref = user[ok], size[ok], flags[ok], sizeword[ok] >> np.uint64(SIZE_BITS)
    n = len(user)
    z = np.zeros(n, dtype=np.uint64)
    if stacks is None or len(stacks.nframes) == 0:
        return {"address": user, "size": size, "seq": z, "tid": z, "period": z, "flags": flags,
                "nframes": z, "frames": np.zeros((n, 0), dtype=np.uint64),
                "unresolved": np.ones(n, dtype=np.uint64)}  # fmt: skip
    known = ref < np.uint64(len(stacks.nframes))
    idx = np.where(known, ref, 0).astype(np.int64)
    sampled = (flags & np.uint64(2)) != 0
    out = {
        "address": user, "size": size, "seq": z,
        "tid": np.where(known, stacks.tid[idx], np.uint64(0)),
        "period": np.where(sampled, np.uint64(stacks.period), np.uint64(0)),
        "flags": flags, "unresolved": (~known).astype(np.uint64),
    }  # fmt: skip
    if expand:
        out["nframes"] = np.where(known, stacks.nframes[idx], np.uint64(0))
        out["frames"] = np.where(known[:, None], stacks.frames[idx], np.uint64(0))
    else:
        out["ref"] = np.where(known, ref, np.uint64(MASK64))  # unknown: the empty stack
    return out


def _no_rows() -> dict[str, U64]:
    z = np.zeros(0, dtype=np.uint64)
    return {k: z for k in ("address", "size", "seq", "tid", "period", "flags", "nframes")} | {
        "frames": np.zeros((0, 0), dtype=np.uint64)
    }

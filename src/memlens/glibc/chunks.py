"""Walking a run of chunks: each header's size leads to the next chunk.

The walk itself is a tight loop over a ``memoryview`` of the heap's words
(the one sequential step; ~0.3 us a chunk), or for big heaps many walkers
stepping together in numpy (:mod:`memlens.glibc.lockstep`, same result);
everything else -- sizes, flags, checks -- is numpy over the positions found.
The loop cannot run away: it stops at a zero size and at the end of the
range, and a position only grows.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace
from memlens.errors import MemlensError
from memlens.glibc.chunktable import Finding
from memlens.glibc.layout import FLAG_BITS, IS_MMAPPED, PREV_INUSE, Layout
from memlens.glibc.lockstep import positions_lockstep

U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]
LOCKSTEP_WORDS = 1 << 18  # from 2 MiB of heap (64-bit) on, walk with many walkers at once


@dataclass(frozen=True, slots=True)
class Run:
    """Chunks found in ``[start, end)``: addresses, sizes and the raw size words
    (flags included); ``stopped`` is the first address the walk could not
    explain (None: it reached ``end``)."""

    start: int
    end: int
    address: U64
    size: U64
    raw: U64
    prev_size: U64
    stopped: int | None


def _positions(mv: memoryview, word: int) -> array[int]:
    """Word indices of the chunks, following each size from index 0."""
    out: array[int] = array("q")
    add = out.append
    p = 0
    last = len(mv) - 1
    if word == 8:
        while p < last:
            add(p)
            step = mv[p + 1] >> 3  # chunksize / 8: the flags fall off
            if step < 2:
                break
            p += step
    else:
        while p < last:
            add(p)
            step = (mv[p + 1] >> 3) << 1  # chunksize / 4
            if step < 2:
                break
            p += step
    return out


def words_of(space: AddressSpace, start: int, size: int) -> npt.NDArray[np.uint8] | None:
    """The bytes of ``[start, start+size)`` in one array (zero-copy from a core)."""
    view = space.view(start, size)
    if view is None:
        try:
            view = np.frombuffer(space.read(start, size), np.uint8)
        except MemlensError:  # an unreadable range is reported by the caller
            return None
    return view


def walk_run(space: AddressSpace, layout: Layout, start: int, end: int,
             findings: list[Finding], top: int | None = None) -> Run:  # fmt: skip
    """Chunks from ``start`` (a chunk header) up to ``end``.

    A chunk whose size is not aligned, is below the minimum or runs past
    ``end`` stops the walk; it is reported (with the chunk before it) and the
    chunks before it are kept.  When the run ends with the arena's ``top``,
    only its header is read: its body is free memory (in a live process,
    pages malloc may never have touched).
    """
    w = layout.word
    end -= (end - start) % w
    empty = np.zeros(0, np.uint64)
    read_end = end
    if top is not None and start <= top < end:
        read_end = top + 2 * w
    raw_bytes = words_of(space, start, read_end - start) if end > start else None
    if raw_bytes is None:
        findings.append(Finding("unreadable", start,
                                f"heap memory {start:#x}-{end:#x} is not readable"))  # fmt: skip
        return Run(start, end, empty, empty, empty, empty, start)
    dtype = np.uint64 if w == 8 else np.uint32
    words = raw_bytes.view(dtype)
    if len(words) >= LOCKSTEP_WORDS:
        pos = positions_lockstep(words, 0, w, layout.align)  # type: ignore[arg-type]
    else:
        pos = np.frombuffer(_positions(memoryview(raw_bytes.data).cast("Q" if w == 8 else "I"),
                                       w), np.int64)  # fmt: skip
    raw = words[pos + 1].astype(np.uint64)
    prev = words[pos].astype(np.uint64)
    size = raw & np.uint64(~FLAG_BITS & (2**64 - 1))
    offset = pos.astype(np.uint64) * np.uint64(w)
    span = np.uint64(end - start)
    bad = (size < np.uint64(layout.min_chunk)) | (size % np.uint64(layout.align) != 0)
    bad |= offset + size > span
    bad |= (raw & np.uint64(IS_MMAPPED)) != 0
    if read_end != end and len(pos) and int(offset[-1]) == read_end - start - 2 * w:
        bad[-1] = int(offset[-1] + size[-1]) != end - start  # top ends the run exactly
    # the fenceposts that end a heap: a 2-word chunk, then a size-0 header.  glibc puts
    # them at the old top's size less MINSIZE, aligned down: on x86_64 the header ends
    # the heap exactly; on i386 (8-byte headers, 16-byte alignment) a word or two of
    # slack can follow it
    slack = end - start - 2 * w - int(offset[-1]) if len(pos) else -1
    if len(pos) >= 1 and int(size[-1]) == 0 and 0 <= slack < layout.align:
        bad[-1] = False
        if len(pos) >= 2 and int(size[-2]) == 2 * w:
            bad[-2] = False
    stopped = None
    hit = np.flatnonzero(bad)
    if len(hit):
        k = int(hit[0])
        at = start + int(offset[k])
        before = start + int(offset[k - 1]) if k else None
        findings.append(Finding(
            "chunk size", at + w,
            f"chunk {at:#x}: size field {int(raw[k]):#x} is not a valid chunk size here"
            f" (heap ends at {end:#x}); the walk stops, chunks after it are not listed",
            chunk=at, previous=before,
        ))  # fmt: skip
        pos, raw, prev, size, offset = pos[:k], raw[:k], prev[:k], size[:k], offset[:k]
        stopped = at
    elif len(pos) and int(offset[-1] + size[-1]) < end - start and int(size[-1]) != 0 \
            and read_end == end:
        stopped = start + int(offset[-1] + size[-1])
    return Run(start, end, offset + np.uint64(start), size, raw, prev, stopped)


def check_prev_size(run: Run, layout: Layout, findings: list[Finding]) -> None:
    """glibc's "corrupted size vs. prev_size": a free chunk's size is repeated in
    the next chunk's ``prev_size``, and that chunk's PREV_INUSE bit is clear."""
    if len(run.address) < 2:
        return
    prev_free = (run.raw[1:] & np.uint64(PREV_INUSE)) == 0
    wrong = prev_free & (run.prev_size[1:] != run.size[:-1])
    # the size-2-word fencepost records no prev_size
    wrong &= run.size[1:] != 0
    for i in np.flatnonzero(wrong)[:100].tolist():
        at = int(run.address[i + 1])
        findings.append(Finding(
            "prev_size", at,
            f"chunk {at:#x}: prev_size {int(run.prev_size[i + 1]):#x} but the free chunk"
            f" before it has size {int(run.size[i]):#x}",
            chunk=int(run.address[i]), previous=int(run.address[i]),
        ))  # fmt: skip


def in_use_bits(run: Run) -> Bools:
    """Per chunk: the next chunk's PREV_INUSE bit (True for the last chunk)."""
    out = np.ones(len(run.address), bool)
    if len(run.address) > 1:
        out[:-1] = (run.raw[1:] & np.uint64(PREV_INUSE)) != 0
    return out

"""Find the shim's in-band block records in an address space.

Two record formats are written by ``memlens/shim/memlens_shim.c`` (all words
64-bit in the target's byte order; the README's "block record" section is the
reference).  Format 1, the full record (blocks with a stack, over-aligned
blocks)::

    w[0]        START magic
    w[1]        version (bits 0-15) | flags (16-31) | frame count n (32-63)
    w[2..2+n)   return addresses, innermost first (and Python frames: heap/pyframes.py)
    w[2+n]      requested size
    w[3+n]      sequence number (version 2: bits 0-39; bits 40-63 the stack's id
                in the shim's accounting table)
    w[4+n]      thread id (bits 0-31) | sampling period (32-63)
    w[5+n]      offset from the underlying allocation to the user data
    w[6+n]      END magic; the user data starts right after it

Format 2, the compact record (blocks without a stack, alignment <= 16)::

    u[-2]       requested size
    u[-1]       (COMPACT magic | flags) + address of u[0], mod 2**64

A format-1 hit counts only when it is 8-byte aligned, both magics and the
version match, the frame count is sane, the user pointer is 16-byte aligned and
the block fits in its region.  A format-2 hit counts only when its magic word
equals the magic plus its own user address (so a copy of a record, or the bare
constant in user data, is not one), the user pointer is 16-byte aligned, its
flags are known and carry no stack, and the block fits in its region.  The
scan is numpy over each saved range, in bounded chunks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace
from memlens.core.region import Region
from memlens.errors import AddressError, MemlensError
from memlens.heap.idrecords import (
    ID_MAGIC,
    StackLookup,
    find_stack_table,
    scan_id_records,
    short_candidates,
)
from memlens.heap.model import HeapBlocks

START_MAGIC = 0x3172504145484C4D  # "MLHEAPr1" as a little-endian word
END_MAGIC = 0x3165504145484C4D  # "MLHEAPe1"
VERSION = 2
VERSIONS = (1, 2)  # version 2 keeps the stack id in the sequence word's top 24 bits
SEQ_BITS = 40
MAX_FRAMES = 64
FIXED_WORDS = 7
USER_ALIGN = 16
MAX_RECORD = (FIXED_WORDS + MAX_FRAMES) * 8

COMPACT_MAGIC = 0x3263504145484C40  # "MLHEAPc2" with bits 0-3 clear (they hold the flags)
COMPACT_WORDS = 2
FLAG_BITS = 0xF  # the flags a compact record can carry: bits 0-3 of its magic word

FLAG_STACK = 1
FLAG_SAMPLED = 2
FLAG_INTERNAL = 4
COMPACT_FLAGS = FLAG_SAMPLED | FLAG_INTERNAL  # known flags of a stackless block

CHUNK = 64 << 20  # bytes scanned per numpy pass: bounds memory on huge regions
_M64 = (1 << 64) - 1

U64 = npt.NDArray[np.uint64]


def scan_words(
    words: U64,
    base: int,
    limit: int | None = None,
    region_end: int | None = None,
    stacks: StackLookup | None = None,
) -> dict[str, U64]:
    """Records whose first word lies in ``words[:limit]`` (``base`` = address of ``words[0]``).

    ``words`` must already be in native order and 8-byte aligned.  Records may
    extend past ``limit`` into the rest of ``words`` (the caller's overlap); a
    block's data must end by ``region_end`` (default: the end of ``words``).
    Format-3 records name their stack by id: ``stacks`` (the shim's table found
    in the same image) gives its frames and thread.  Rows come in address
    order, all formats together.
    """
    return _merge(scan_chunk(words, base, limit, region_end, stacks, expand=True))


def scan_chunk(
    words: U64,
    base: int,
    limit: int | None,
    region_end: int | None,
    stacks: StackLookup | None,
    expand: bool,
) -> list[dict[str, U64]]:
    """The three formats' rows of one chunk, each format's on its own (see ``scan_words``)."""
    cand = short_candidates(words, base, limit, (COMPACT_MAGIC, ID_MAGIC))
    parts = [
        _scan_full(words, base, limit, region_end),
        _scan_compact(words, base, limit, region_end, cand),
        scan_id_records(words, base, limit, region_end, stacks, expand, cand),
    ]
    return [p for p in parts if len(p["address"])]


def _merge(parts: list[dict[str, U64]]) -> dict[str, U64]:
    if not parts:
        return _empty()
    if len(parts) == 1:
        return parts[0]
    width = max(p["frames"].shape[1] for p in parts)
    keys = {k for p in parts for k in p if k != "frames"}  # "unresolved": format 3 only
    both = {
        k: np.concatenate([p.get(k, np.zeros(len(p["address"]), dtype=np.uint64)) for p in parts])
        for k in sorted(keys)
    }
    both["frames"] = np.concatenate(
        [np.pad(p["frames"], ((0, 0), (0, width - p["frames"].shape[1]))) for p in parts]
    )
    order = np.argsort(both["address"], kind="stable")
    return {k: v[order] for k, v in both.items()}


def _scan_compact(
    words: U64,
    base: int,
    limit: int | None,
    region_end: int | None,
    cand: npt.NDArray[np.int64] | None = None,
) -> dict[str, U64]:
    """Format-2 records whose size word lies in ``words[:limit]`` (``cand``: from
    :func:`short_candidates`, when the caller has them already)."""
    n_words = len(words)
    if cand is None:
        cand = short_candidates(words, base, limit, (COMPACT_MAGIC,))
    if len(cand) == 0:
        return _empty()
    magic = words[cand]
    user = np.uint64(base) + (cand.astype(np.uint64) + np.uint64(1)) * np.uint64(8)
    flags = magic & np.uint64(FLAG_BITS)
    ok = ((magic - user) & np.uint64(~FLAG_BITS & _M64)) == np.uint64(COMPACT_MAGIC)
    ok &= (flags & np.uint64(~COMPACT_FLAGS & FLAG_BITS)) == 0
    size = words[cand - 1]
    stop = base + n_words * 8 if region_end is None else region_end
    ok &= size <= np.uint64(stop) - np.minimum(user, np.uint64(stop))
    user, size, flags = user[ok], size[ok], flags[ok]
    z = np.zeros(len(user), dtype=np.uint64)
    return {
        "address": user,
        "size": size,
        "seq": z,
        "tid": z,
        "period": z,
        "flags": flags,
        "nframes": z,
        "frames": np.zeros((len(user), 0), dtype=np.uint64),
    }


def _scan_full(words: U64, base: int, limit: int | None, region_end: int | None) -> dict[str, U64]:
    """Format-1 records whose START word lies in ``words[:limit]``."""
    n_words = len(words)
    lim = n_words if limit is None else min(limit, n_words)
    starts = np.flatnonzero(words[:lim] == np.uint64(START_MAGIC))
    if len(starts) == 0:
        return _empty()
    meta = words[np.minimum(starts + 1, n_words - 1)]
    version = meta & np.uint64(0xFFFF)
    flags = (meta >> np.uint64(16)) & np.uint64(0xFFFF)
    nframes = (meta >> np.uint64(32)).astype(np.int64)
    ok = ((version == 1) | (version == 2)) & (nframes <= MAX_FRAMES) & (starts + 1 < n_words)
    end = starts + 2 + np.where(ok, nframes, 0) + 4
    ok &= end < n_words
    end_c = np.minimum(end, n_words - 1)
    ok &= words[end_c] == np.uint64(END_MAGIC)
    user = np.uint64(base) + (end_c.astype(np.uint64) + np.uint64(1)) * np.uint64(8)
    ok &= (user % np.uint64(USER_ALIGN)) == 0
    starts, nframes, flags, end_c, user, version = (
        a[ok] for a in (starts, nframes, flags, end_c, user, version)
    )
    tail = end_c - 4
    size = words[tail]
    # The block's bytes must lie inside the scanned range (its region).
    stop = base + n_words * 8 if region_end is None else region_end
    room = np.uint64(stop) - np.minimum(user, np.uint64(stop))
    fits = size <= room
    starts, nframes, flags, tail, user, size, version = (
        a[fits] for a in (starts, nframes, flags, tail, user, size, version)
    )
    width = int(nframes.max()) if len(nframes) else 0
    cols = np.arange(width, dtype=np.int64)
    idx = starts[:, None] + 2 + cols[None, :]
    mask = cols[None, :] < nframes[:, None]
    frames = np.where(mask, words[np.minimum(idx, n_words - 1)], np.uint64(0))
    tidword = words[tail + 2]
    return {
        "address": user,
        "size": size,
        "seq": np.where(version >= 2, words[tail + 1] & np.uint64((1 << SEQ_BITS) - 1),
                        words[tail + 1]),
        "tid": tidword & np.uint64(0xFFFFFFFF),
        "period": tidword >> np.uint64(32),
        "flags": flags,
        "nframes": nframes.astype(np.uint64),
        "frames": frames.astype(np.uint64),
    }


def _empty() -> dict[str, U64]:
    z = np.zeros(0, dtype=np.uint64)
    return {k: z for k in ("address", "size", "seq", "tid", "period", "flags", "nframes")} | {
        "frames": np.zeros((0, 0), dtype=np.uint64)
    }


def scannable(space: AddressSpace) -> list[Region]:
    """Writable regions (where heap blocks live); every saved range when regions are unknown."""
    if not space.regions:
        return []
    return [r for r in space.regions if r.perms.write]


def scan_ranges(space: AddressSpace) -> Iterator[tuple[int, int]]:
    """The (start, end) address ranges a scan reads: saved bytes of writable regions."""
    regions = scannable(space)
    if not space.regions:
        for start, end, _seg in space.saved_ranges():
            yield start, end
        return
    for r in regions:
        for start, end, seg in space.segments.overlapping(r.start, r.end):
            if seg.backing is not None:
                yield max(start, r.start), min(end, r.end)


def _words(space: AddressSpace, pos: int, size: int, dtype: np.dtype[np.uint64]) -> U64:
    """``size`` bytes at ``pos`` as native uint64 words; zero-copy where the space allows."""
    raw = space.view(pos, size)
    if raw is not None and len(raw) == size:
        return raw.view(dtype).astype(np.uint64, copy=False)
    return np.frombuffer(space.read(pos, size), dtype=dtype).astype(np.uint64, copy=False)


def scan_space(
    space: AddressSpace,
    ranges: Iterable[tuple[int, int, int]] | None = None,
    pid: int | None = None,
) -> tuple[HeapBlocks, list[str]]:
    """Every record in the writable, saved parts of ``space``, and warnings for unread ranges.

    ``pid`` picks the shim's stack table of that process when the image holds
    several (a forked child keeps its parent's mapping).
    """
    stacks = find_stack_table(space, pid)
    parts, warnings = scan_parts(space, ranges, stacks=stacks, expand=False)
    table = None
    if stacks is not None:
        # one conversion to Python ints for the whole table, then slices of it
        rows, counts = stacks.frames.tolist(), stacks.nframes.tolist()
        table = [tuple(row[: int(n)]) for row, n in zip(rows, counts, strict=True)]
    return HeapBlocks.concat(parts, table), warnings


def scan_parts(
    space: AddressSpace,
    ranges: Iterable[tuple[int, int, int]] | None = None,
    pid: int | None = None,
    stacks: StackLookup | None = None,
    expand: bool = True,
) -> tuple[list[dict[str, U64]], list[str]]:
    """The record scan itself: ``scan_words`` columns per chunk, not yet joined or interned.

    ``ranges`` (start, end, end of the region) limits the scan, e.g. to present
    pages; by default every saved byte of the writable regions (their own ends).
    """
    dtype = np.dtype("<u8" if space.byteorder == "little" else ">u8")
    parts: list[dict[str, U64]] = []
    warnings: list[str] = []
    if stacks is None:
        stacks = find_stack_table(space, pid)
    todo = ranges if ranges is not None else ((lo, hi, hi) for lo, hi in scan_ranges(space))
    for lo, hi, region_end in todo:
        if stacks is not None and stacks.start <= lo < stacks.end:
            continue  # the table itself holds no blocks
        lo8 = (lo + 7) & ~7
        pos = lo8
        while pos + COMPACT_WORDS * 8 <= hi:
            body = min(CHUNK, hi - pos)
            take = min(body + MAX_RECORD, hi - pos) & ~7
            try:
                words = _words(space, pos, take, dtype)
            except (AddressError, MemlensError) as e:
                warnings.append(f"skipped {pos:#x}-{pos + take:#x}: {e}")
                pos += body
                continue
            parts.extend(scan_chunk(words, pos, body // 8, region_end, stacks, expand))
            pos += body
    unknown = sum(int(p["unresolved"].sum()) for p in parts if "unresolved" in p)
    if unknown:
        warnings.append(f"{unknown} blocks name a stack in the shim's table, which is not in this "
                        "image (a table in a file under 'memlens run --out'): their stacks are "
                        "unknown")  # fmt: skip
    return parts, warnings

"""The chunk walk of a big heap, many walkers at once, exactly the sequential result.

A chunk's position depends on every size before it, so the walk is one long
chain.  Here the heap is cut into segments of ``SEGMENT`` words; a walker
starts in each, at the first spot where four chunk headers in a row look
sane, and all walkers step together in numpy, each recording its path until
it is ``OVERLAP`` words past its segment's end.  The true chain is then
stitched together segment by segment: it starts at the heap's first chunk; in
each segment, if the true position entering it is on that segment's walker's
path, the walker's path *is* the chain from there (a walk is deterministic);
if not (the walker started on user data that looked like headers), that
stretch is walked one chunk at a time until it meets the walker's path or
leaves the segment.  The result equals :func:`memlens.glibc.chunks._positions`
on every input; only the speed depends on the guesses.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64] | npt.NDArray[np.uint32]

SEGMENT = 1 << 13  # words per walker (64 KiB on 64-bit)
OVERLAP = 1 << 9  # words a walker goes on past its segment
GUESS = 64  # granules tried for each walker's start
MAX_CHUNK_GUESS = 1 << 20  # a header guess with a bigger size is not taken


def _steps(words: Words, at: I64, scale: int) -> I64:
    """Chunk size in words for the header at word index ``at`` (flags dropped)."""
    return (words[at + 1].astype(np.int64) >> 3) * scale


def _sane(words: Words, at: I64, scale: int, gran: int, last: int) -> npt.NDArray[np.bool_]:
    ok = at < last
    atc = np.where(ok, at, 0)
    raw = words[atc + 1].astype(np.int64)
    step = (raw >> 3) * scale
    ok &= (step >= 2 * gran) & (step % gran == 0) & ((raw & 2) == 0)
    ok &= step * (8 // scale) <= MAX_CHUNK_GUESS
    return ok


def _guess_starts(words: Words, first: int, scale: int, gran: int, last: int) -> I64:
    xs = np.arange(first, last, SEGMENT, dtype=np.int64)
    cand = xs[:, None] + np.arange(GUESS, dtype=np.int64)[None, :] * gran
    ok = np.ones(cand.shape, bool)
    at = cand.copy()
    for _ in range(4):
        good = _sane(words, at.ravel(), scale, gran, last).reshape(at.shape)
        ok &= good
        at = np.where(good, at + _steps(words, np.where(good, at, 0).ravel(), scale)
                      .reshape(at.shape), last)  # fmt: skip
    j = np.argmax(ok, axis=1)
    starts = np.where(ok.any(axis=1), cand[np.arange(len(xs)), j], xs)
    starts[0] = first
    return starts


def positions_lockstep(words: Words, first: int, word: int, align: int) -> I64:
    """Word indices of the chunks from ``first``: what the sequential walk gives."""
    scale = 8 // word  # words per 8 bytes of size
    gran = align // word  # words per alignment unit
    n = len(words)
    last = n - 1
    starts = _guess_starts(words, first, scale, gran, last)
    bounds = np.arange(first, last, SEGMENT, dtype=np.int64)
    k_count = len(starts)
    limit = np.append(bounds[1:], last) + OVERLAP
    pos = starts.copy()
    active = pos < last
    ended = np.zeros(k_count, bool)  # stopped on a size below two words
    rows: list[I64] = []
    cap = (SEGMENT + OVERLAP) // 2 + 2
    while active.any() and len(rows) < cap:
        rows.append(np.where(active, pos, -1))
        step = _steps(words, np.where(active, pos, 0), scale)
        bad = active & (step < 2)
        ended |= bad
        pos = np.where(active & ~bad, pos + step, pos)
        active &= ~bad & (pos < limit) & (pos < last)
    # one row per walker, its path contiguous (int32 while word indices fit)
    small = n < 1 << 31
    paths: npt.NDArray[np.int32] | I64 = np.full((k_count, 1), -1, np.int64)
    if rows:
        paths = np.stack([r.astype(np.int32) if small else r for r in rows],
                         axis=1)  # type: ignore[assignment]
    return _stitch(words, first, scale, last, bounds, paths, pos, ended)


def _stitch(words: Words, first: int, scale: int, last: int, bounds: I64,
            paths: npt.NDArray[np.int32] | I64,
            exits: I64, ended: npt.NDArray[np.bool_]) -> I64:  # fmt: skip
    out: list[I64] = []
    t = first
    k_count = len(bounds)
    while t < last:
        k = int(np.searchsorted(bounds, t, side="right")) - 1
        col = paths[k]
        col = col[col >= 0]  # a walker's -1s (inactive) are a suffix
        stop_at = int(bounds[k + 1]) if k + 1 < k_count else last
        j = int(np.searchsorted(col, t))
        if j < len(col) and int(col[j]) == t:
            m = int(np.searchsorted(col, stop_at))
            out.append(col[j:m].astype(np.int64))
            if m < len(col):
                t = int(col[m])
            elif ended[k]:
                return np.concatenate(out)
            else:
                t = int(exits[k])
            continue
        # off the walker's path: one chunk at a time until on it or out of the segment
        on_path = set(col.tolist())
        mine: list[int] = []
        while True:
            mine.append(t)
            step = (int(words[t + 1]) >> 3) * scale
            if step < 2:
                out.append(np.array(mine, np.int64))
                return np.concatenate(out)
            t += step
            if t >= last or t >= stop_at or t in on_path:
                break
        out.append(np.array(mine, np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)

"""Interned strings (qstrs): find the pools in memory and decode qstr ids.

``qstr_pool_t`` (MicroPython >= 1.20): ``prev, total_prev_len:31|is_sorted:1,
alloc, len, [hashes], lengths, qstrs[len]`` -- ``qstrs`` point at NUL
terminated strings whose lengths the ``lengths`` array repeats.  A pool is
accepted only when every one of its entries agrees with its length byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memlens.mpy.gather import PieceGather, words_or_none

_MAX_POOL = 1 << 16
_MAX_CANDIDATES = 4096


@dataclass(frozen=True, slots=True)
class QstrPool:
    address: int
    first: int
    strings: tuple[str, ...]


class QstrTable:
    """qstr id -> text, over the pools found."""

    def __init__(self, pools: list[QstrPool]) -> None:
        self.pools = sorted(pools, key=lambda p: p.first)

    def __len__(self) -> int:
        return sum(len(p.strings) for p in self.pools)

    def get(self, qstr: int) -> str | None:
        for p in self.pools:
            if p.first <= qstr < p.first + len(p.strings):
                return p.strings[qstr - p.first]
        return None


def _pool_at(mem: PieceGather, addr: int, words: list[int], with_hash: bool) -> QstrPool | None:
    ws = mem.word_size
    first = words[1] & ((1 << (8 * ws - 1)) - 1)
    alloc, length = words[2], words[3]
    lengths_ptr = words[5] if with_hash else words[4]
    table = addr + (6 if with_hash else 5) * ws
    # Const pools set alloc below len on purpose (it sizes the first dynamic pool).
    if not (0 < length < _MAX_POOL and alloc < _MAX_POOL) or first >= (1 << 24):
        return None
    lens = mem.space.view(lengths_ptr, length)
    ptrs = words_or_none(mem.space, table, length)
    if lens is None or ptrs is None:
        return None
    ends = ptrs + lens.astype(np.uint64)
    nul, saved = mem.bytes_at(ends)
    if int(np.count_nonzero(saved & (nul == 0))) * 16 < length * 15:
        return None  # most entries must be NUL-terminated where their length says
    out: list[str] = []
    bad = 0
    for ln, p in zip(lens.tolist(), ptrs.tolist(), strict=True):
        raw = mem.space.view(p, ln + 1)
        if raw is None or raw[ln] != 0:
            return None
        text = raw[:ln].tobytes().decode("utf-8", "replace")
        if "\0" in text or "\ufffd" in text:
            # A few qstrs hold a NUL byte themselves; a pool of many such is no pool.
            bad += 1
            if bad * 16 > length:
                return None
        out.append(text)
    # Runs of pointers to zeros look like pools of empty strings: refuse those.
    if sum(1 for x in out if x and x.isprintable()) * 2 < len(out) or length < 2:
        return None
    return QstrPool(addr, first, tuple(out))


def find_pools(mem: PieceGather) -> QstrTable:
    """Every consistent qstr pool in saved memory, one per first id."""
    ws = mem.word_size
    found: dict[int, QstrPool] = {}
    for base, w in mem.aligned_words():
        if len(w) < 8:
            continue
        n = len(w) - 7
        # One full pass for the strongest cheap test (2 <= len < 64K, as one unsigned
        # compare), then the rest on the few rows left.
        rows = np.flatnonzero((w[3 : 3 + n] - np.uint64(2)) < np.uint64(_MAX_POOL - 2))
        ok = w[rows + 2] < np.uint64(_MAX_POOL)
        ok &= (w[rows + 1] & np.uint64(0x7FFFFFFF)) < np.uint64(1 << 24)
        ok &= (w[rows] % np.uint64(ws)) == 0
        ok &= (w[rows + 4] != 0) & (w[rows + 5] != 0) & (w[rows + 6] != 0)
        rows = rows[ok]
        for with_hash in (True, False):
            lens_col, first_col = (5, 6) if with_hash else (4, 5)
            low = np.uint64(0x100)  # pointers into the first page are small ints, not tables
            good = rows[(w[rows + lens_col] >= low) & (w[rows + first_col] >= low)]
            good = good[(w[good + 3] < 3) | (w[good + first_col + 1] != w[good + first_col + 2])]
            # Entries 1 to 8 (entry 0 may be the null qstr): the length byte, then
            # the NUL right after a text with no NUL at its end.
            for k in range(1, 9):
                kk = np.minimum(np.uint64(k), w[good + 3] - np.uint64(1))
                ln, ok0 = mem.bytes_at(w[good + lens_col] + kk)
                first, ok1 = mem.words_at(
                    np.uint64(base)
                    + (good.astype(np.uint64) + np.uint64(first_col) + kk) * np.uint64(ws)
                )
                end = first + ln.astype(np.uint64)
                nul, ok2 = mem.bytes_at(end)
                last, ok3 = mem.bytes_at(end - np.uint64(1))
                # only the first pool starts with empty qstrs (null and ""), at 0 and 1
                text_ok = ((ln == 0) & (k < 2)) | ((ln != 0) & (last != 0) & ok3)
                good = good[ok0 & ok1 & ok2 & (nul == 0) & (first != 0) & text_ok]
            for i in good[:_MAX_CANDIDATES].tolist():
                words = [int(x) for x in w[i : i + 6]]
                pool = _pool_at(mem, base + i * ws, words, with_hash)
                if pool is not None:
                    old = found.get(pool.first)
                    if old is None or len(pool.strings) > len(old.strings):
                        found[pool.first] = pool
    return QstrTable(list(found.values()))

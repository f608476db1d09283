"""Batched gathers over the saved pieces of an :class:`AddressSpace`.

Single reads go to the address space itself (``view``, ``word``, ``read``);
this helper only adds what the scans need: every aligned word of every saved
piece (for structure probes), and one byte or word at each of many addresses
at once (numpy, one ``searchsorted``), with a mask of which were saved.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace
from memlens.errors import MemlensError

U64 = npt.NDArray[np.uint64]
Mask = npt.NDArray[np.bool_]


def word_dtype(space: AddressSpace) -> np.dtype[np.unsignedinteger]:
    """The numpy dtype of one target word."""
    return np.dtype(f"{'<' if space.byteorder == 'little' else '>'}u{space.word_size}")


def read_or_none(space: AddressSpace, address: int, size: int) -> bytes | None:
    """``size`` saved bytes at ``address``, or ``None`` when any is unavailable."""
    if address < 0 or size < 0:
        return None
    try:
        return space.read(address, size)
    except MemlensError:
        return None


def words_or_none(space: AddressSpace, address: int, count: int) -> U64 | None:
    """``count`` words at ``address`` as uint64, or ``None`` when not all saved."""
    raw = space.view(address, count * space.word_size)
    if raw is None:
        return None
    return np.frombuffer(raw.tobytes(), dtype=word_dtype(space)).astype(np.uint64)


class PieceGather:
    """The saved pieces of ``space`` (from :meth:`AddressSpace.saved_pieces`) for batch reads."""

    def __init__(self, space: AddressSpace) -> None:
        self.space = space
        self.word_size = space.word_size
        self.dtype = word_dtype(space)
        self._pieces = [(s, d) for s, d in space.saved_pieces() if len(d)]
        self._starts = np.array([s for s, _ in self._pieces], dtype=np.uint64)
        self._lens = np.array([len(d) for _, d in self._pieces], dtype=np.uint64)
        self._words: list[tuple[int, U64]] | None = None

    def aligned_words(self) -> list[tuple[int, U64]]:
        """Per saved piece: the address of its first aligned word and all its words.

        Computed once (several scans share it); zero-copy for 64-bit
        little-endian pieces, one uint64 copy otherwise.
        """
        if self._words is None:
            ws = self.word_size
            out = []
            for start, data in self._pieces:
                skip = (-start) % ws
                n = (len(data) - skip) // ws
                if n <= 0:
                    continue
                view = data[skip : skip + n * ws].view(self.dtype)
                out.append((start + skip, view.astype(np.uint64, copy=False)))
            self._words = out
        return self._words

    def _locate(self, addrs: npt.ArrayLike, size: int) -> tuple[npt.NDArray[np.int64], U64, Mask]:
        """Piece index, offset in it, and whether all ``size`` bytes there are saved.

        Unsigned arithmetic throughout: an address below a piece, or one that
        wrapped (``end - 1`` with ``end == 0``), fails the check instead of
        turning into a negative offset.
        """
        a = np.asarray(addrs, dtype=np.uint64).reshape(-1)
        if len(self._pieces) == 0:
            return (np.zeros(len(a), np.int64), np.zeros(len(a), np.uint64),
                    np.zeros(len(a), dtype=bool))  # fmt: skip
        idx = np.searchsorted(self._starts, a, side="right").astype(np.int64) - 1
        safe = np.maximum(idx, 0)
        start = self._starts[safe]
        length = self._lens[safe]
        sz = np.uint64(size)
        ok = (idx >= 0) & (a >= start) & (length >= sz)
        off = np.where(ok, a - start, np.uint64(0))
        ok &= off <= length - np.minimum(length, sz)
        return safe, np.where(ok, off, np.uint64(0)), ok

    def bytes_at(self, addrs: npt.ArrayLike) -> tuple[npt.NDArray[np.uint8], Mask]:
        """The byte at each address (0 where not saved) and a saved mask."""
        idx, off, ok = self._locate(addrs, 1)
        out = np.zeros(len(idx), dtype=np.uint8)
        for k in np.unique(idx[ok]).tolist():
            sel = np.flatnonzero(ok & (idx == k))
            out[sel] = self._pieces[k][1][off[sel].astype(np.int64)]
        return out, ok

    def words_at(self, addrs: npt.ArrayLike) -> tuple[U64, Mask]:
        """The word at each address (any alignment; 0 where not saved) and a saved mask."""
        ws = self.word_size
        idx, off, ok = self._locate(addrs, ws)
        out = np.zeros(len(idx), dtype=np.uint64)
        for k in np.unique(idx[ok]).tolist():
            sel = np.flatnonzero(ok & (idx == k))
            cols = off[sel].astype(np.int64)[:, None] + np.arange(ws)
            raw = np.ascontiguousarray(self._pieces[k][1][cols])
            out[sel] = raw.view(self.dtype).reshape(-1).astype(np.uint64)
        return out, ok

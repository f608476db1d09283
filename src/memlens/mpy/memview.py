"""Zero-copy numpy views of the saved bytes of an address space, for scans."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace


@dataclass(frozen=True, slots=True)
class SavedRange:
    start: int
    data: npt.NDArray[np.uint8]

    @property
    def end(self) -> int:
        return self.start + len(self.data)


class MemView:
    """Saved ranges of ``space`` as uint8 arrays, with aligned word views."""

    def __init__(self, space: AddressSpace) -> None:
        self.space = space
        self.word_size = space.word_size
        self.byteorder = space.byteorder
        self._order: Literal["little", "big"] = "little" if space.byteorder == "little" else "big"
        self.word_dtype = np.dtype(
            f"{'<' if space.byteorder == 'little' else '>'}u{space.word_size}"
        )
        self.ranges: list[SavedRange] = []
        for start, data in space.saved_pieces():
            self.ranges.append(SavedRange(start, data))
        self._starts = np.array([r.start for r in self.ranges], dtype=np.uint64)
        self._lens = np.array([len(r.data) for r in self.ranges], dtype=np.int64)
        self._start_list = [r.start for r in self.ranges]
        self._mvs = [memoryview(r.data.data) for r in self.ranges]
        self._words: list[tuple[int, npt.NDArray[np.uint64]]] | None = None

    def range_at(self, address: int) -> SavedRange | None:
        # bisect on a Python list: far cheaper than numpy for one scalar
        i = bisect.bisect_right(self._start_list, address) - 1
        if i < 0:
            return None
        r = self.ranges[i]
        return r if address < r.start + len(r.data) else None

    def view(self, address: int, size: int) -> npt.NDArray[np.uint8] | None:
        """A view of ``size`` saved bytes at ``address``, or ``None`` if not all saved."""
        r = self.range_at(address)
        if r is None or size < 0 or address + size > r.end:
            return None
        off = address - r.start
        return r.data[off : off + size]

    def words(self, address: int, count: int) -> npt.NDArray[np.uint64] | None:
        """``count`` words at ``address`` (any alignment) as uint64, or ``None``."""
        raw = self.view(address, count * self.word_size)
        if raw is None:
            return None
        return np.frombuffer(raw.tobytes(), dtype=self.word_dtype).astype(np.uint64)

    def raw(self, address: int, size: int) -> bytes | None:
        """``size`` saved bytes at ``address`` as bytes (fast path for many small reads)."""
        i = bisect.bisect_right(self._start_list, address) - 1
        if i < 0 or size < 0:
            return None
        off = address - self._start_list[i]
        mv = self._mvs[i]
        if off + size > len(mv):
            return None
        return mv[off : off + size].tobytes()

    def word(self, address: int) -> int | None:
        raw = self.raw(address, self.word_size)
        return None if raw is None else int.from_bytes(raw, self._order)

    def aligned_words(self) -> list[tuple[int, npt.NDArray[np.uint64]]]:
        """Per saved range: the address of its first aligned word and all its words.

        Computed once (several scans share it): one uint64 copy of the dump.
        """
        if self._words is None:
            ws = self.word_size
            out = []
            for r in self.ranges:
                skip = (-r.start) % ws
                n = (len(r.data) - skip) // ws
                if n <= 0:
                    continue
                view = r.data[skip : skip + n * ws].view(self.word_dtype)
                # zero-copy for 64-bit little-endian dumps; one uint64 copy otherwise
                out.append((r.start + skip, view.astype(np.uint64, copy=False)))
            self._words = out
        return self._words

    def _locate(
        self, addrs: npt.NDArray[np.uint64], size: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Range index, offset in it, and whether ``size`` bytes there are saved."""
        a = np.asarray(addrs, dtype=np.uint64)
        idx = np.searchsorted(self._starts, a, side="right").astype(np.int64) - 1
        ok = idx >= 0
        safe = np.maximum(idx, 0)
        starts = self._starts[safe] if len(self.ranges) else np.zeros(len(a), np.uint64)
        lens = self._lens
        off = (a - starts).astype(np.int64)
        ok &= off + size <= (lens[safe] if len(self.ranges) else 0)
        ok &= a >= starts
        return safe, off, ok

    def gather_bytes(
        self, addrs: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
        """The byte at each address (0 where not saved) and a saved mask."""
        idx, off, ok = self._locate(addrs, 1)
        out = np.zeros(len(idx), dtype=np.uint8)
        for k, r in enumerate(self.ranges):
            sel = ok & (idx == k)
            out[sel] = r.data[off[sel]]
        return out, ok

    def gather_words(
        self, addrs: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
        """The word at each address (any alignment; 0 where not saved) and a saved mask."""
        ws = self.word_size
        idx, off, ok = self._locate(addrs, ws)
        out = np.zeros(len(idx), dtype=np.uint64)
        for k, r in enumerate(self.ranges):
            sel = np.flatnonzero(ok & (idx == k))
            if len(sel) == 0:
                continue
            cols = off[sel, None] + np.arange(ws)
            raw = np.ascontiguousarray(r.data[cols])
            out[sel] = raw.view(self.word_dtype).reshape(-1).astype(np.uint64)
        return out, ok

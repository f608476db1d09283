"""Zero-copy numpy views of the saved bytes of an address space, for scans."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
        self.word_dtype = np.dtype(
            f"{'<' if space.byteorder == 'little' else '>'}u{space.word_size}"
        )
        self.ranges: list[SavedRange] = []
        for start, end, seg in space.saved_ranges():
            assert seg.backing is not None
            data = seg.backing.array(seg.backing_offset, end - start)
            self.ranges.append(SavedRange(start, data))
        self._starts = np.array([r.start for r in self.ranges], dtype=np.uint64)

    def range_at(self, address: int) -> SavedRange | None:
        i = int(np.searchsorted(self._starts, np.uint64(address), side="right")) - 1
        if i < 0:
            return None
        r = self.ranges[i]
        return r if address < r.end else None

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

    def word(self, address: int) -> int | None:
        w = self.words(address, 1)
        return None if w is None else int(w[0])

    def aligned_words(self) -> Iterator[tuple[int, npt.NDArray[np.uint64]]]:
        """Per saved range: the address of its first aligned word and all its words."""
        ws = self.word_size
        for r in self.ranges:
            skip = (-r.start) % ws
            n = (len(r.data) - skip) // ws
            if n <= 0:
                continue
            view = r.data[skip : skip + n * ws].view(self.word_dtype)
            yield r.start + skip, view.astype(np.uint64, copy=False)

    def cstring(self, address: int, limit: int = 256) -> bytes | None:
        r = self.range_at(address)
        if r is None:
            return None
        off = address - r.start
        chunk = r.data[off : off + limit]
        nul = np.flatnonzero(chunk == 0)
        if len(nul) == 0:
            return None
        return chunk[: int(nul[0])].tobytes()

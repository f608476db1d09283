"""Where a segment's bytes come from.

A source (core file, minidump, live process) describes its memory as segments;
each segment's bytes come from a :class:`Backing`.  Backings are addressed by
their own offsets; :class:`~memlens.core.addrspace.AddressSpace` maps virtual
addresses onto them.
"""

from __future__ import annotations

import mmap
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class Backing(Protocol):
    """Random access to a run of bytes."""

    def read(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``.

        Raises:
            MemlensError: the bytes cannot be read (a process went away, I/O).
        """
        ...

    def find(self, pattern: bytes, start: int, end: int) -> int:
        """Offset of the first ``pattern`` wholly inside ``[start, end)``, or -1."""
        ...

    def array(self, offset: int, size: int) -> npt.NDArray[np.uint8]:
        """The bytes as a uint8 array; zero-copy where the backing allows it."""
        ...


class BufferBacking:
    """Bytes held in memory or mapped from a file (``bytes``, ``mmap``, ``memoryview``).

    Reads are slices; :meth:`array` is zero-copy.  ``mmap.find`` searches a
    mapped file without copying it (~1.8 GB/s here).
    """

    __slots__ = ("_buffer", "_sliceable", "_view")

    def __init__(self, buffer: bytes | bytearray | mmap.mmap | memoryview) -> None:
        self._buffer = buffer
        self._view = memoryview(buffer).cast("B")
        # Slicing these yields bytes in one step (faster than view + tobytes).
        self._sliceable = isinstance(buffer, (bytes, mmap.mmap))

    def __len__(self) -> int:
        return len(self._view)

    @property
    def sliceable(self) -> bytes | mmap.mmap | None:
        """The buffer itself when slicing it yields ``bytes`` (for read fast paths)."""
        buf = self._buffer
        return buf if isinstance(buf, (bytes, mmap.mmap)) else None

    def read(self, offset: int, size: int) -> bytes:
        if self._sliceable:
            return self._buffer[offset : offset + size]  # type: ignore[return-value]
        return self._view[offset : offset + size].tobytes()

    def find(self, pattern: bytes, start: int, end: int) -> int:
        buf = self._buffer
        if isinstance(buf, (bytes, bytearray, mmap.mmap)):
            return buf.find(pattern, start, end)
        # A memoryview has no find(); search in bounded chunks to avoid a full copy.
        chunk = 64 << 20
        overlap = max(len(pattern) - 1, 0)
        pos = start
        while pos < end:
            stop = min(end, pos + chunk + overlap)
            hit = self._view[pos:stop].tobytes().find(pattern)
            if hit >= 0:
                return pos + hit
            pos += chunk
        return -1

    def array(self, offset: int, size: int) -> npt.NDArray[np.uint8]:
        import numpy as np

        return np.frombuffer(self._view, dtype=np.uint8, count=size, offset=offset)

    def release(self) -> None:
        """Drop this backing's view so a mapping under it can be closed.

        Raises:
            BufferError: arrays handed out by :meth:`array` still use the buffer.
        """
        self._view.release()

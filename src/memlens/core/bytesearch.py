"""Every occurrence of a byte pattern in a run of bytes: the search under ``AddressSpace.find``.

Two ways, chosen by the backing:

- Bytes held in memory or mapped (cores, raw dumps) are searched in place by
  :func:`find_in_array` for patterns of 4 bytes or more: four ``uint32`` views
  shifted by 0-3 bytes are compared with the pattern's first 4 bytes in numpy
  and only the candidates are checked in full (only the shifts that can be
  aligned when an alignment is asked for).  That runs at memory speed whatever
  the bytes hold, where ``mmap.find`` slows down on data full of the
  pattern's first byte.
- Bytes that must be read (a live process) go through :func:`find_chunked`:
  chunks that overlap by ``len(pattern) - 1`` so no match is lost at an edge,
  each read once however many matches it holds; an unreadable chunk is skipped.

Offsets are the backing's own; ``phase`` is what turns one into the address the
alignment applies to (``address = offset + phase``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from memlens.errors import AddressError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: bytes read per step from a backing that is read, not mapped
CHUNK = 16 << 20
#: bytes compared per numpy step (a window that stays in the CPU cache)
NP_CHUNK = 1 << 20


def find_in_array(
    array: Callable[[int, int], npt.NDArray[np.uint8]],
    pattern: bytes,
    start: int,
    end: int,
    align: int = 1,
    phase: int = 0,
) -> Iterator[int]:
    """Offsets in ``[start, end)`` of ``pattern`` (>= 4 bytes) in zero-copy windows from ``array``.

    Windows of NP_CHUNK bytes stay in the CPU cache; the compare writes into one reused
    boolean buffer and ``any()`` skips the (usual) windows without a candidate.
    """
    import numpy as np

    head = np.frombuffer(pattern[:4], dtype=np.uint32)[0]
    n = len(pattern)
    mask = np.empty(NP_CHUNK // 4 + 1, dtype=np.bool_)
    pos = start
    while pos <= end - n:
        stop = min(end, pos + NP_CHUNK + n - 1)  # windows starting before pos + NP_CHUNK
        window = array(pos, stop - pos)
        starts = min(NP_CHUNK, stop - pos - n + 1)  # match starts covered by this window
        found = []
        for k in range(4):
            if align % 4 == 0 and (pos + phase + k) % 4:
                continue  # this shift never lands on an aligned address
            count = min((starts - k + 3) // 4, (len(window) - k) // 4)
            if count <= 0:
                continue
            hits = mask[:count]
            np.equal(window[k : k + 4 * count].view(np.uint32), head, out=hits)
            if hits.any():
                found.append(np.flatnonzero(hits) * 4 + k)
        if found:
            for c in np.sort(np.concatenate(found)).tolist():
                at = pos + c
                if (at + phase) % align == 0 and (n == 4 or window[c : c + n].tobytes() == pattern):
                    yield at
        pos += NP_CHUNK


def find_chunked(
    read: Callable[[int, int], bytes],
    pattern: bytes,
    start: int,
    end: int,
    align: int = 1,
    phase: int = 0,
) -> Iterator[int]:
    """Offsets in ``[start, end)`` of ``pattern``, reading ``read(offset, size)`` chunk by chunk.

    A chunk that cannot be read (:class:`AddressError`, e.g. unmapped in a live
    process meanwhile) is skipped.
    """
    step = CHUNK
    overlap = len(pattern) - 1
    pos = start
    while pos < end - overlap:
        stop = min(end, pos + step + overlap)
        try:
            data = read(pos, stop - pos)
        except AddressError:
            pos += step
            continue
        at = data.find(pattern)
        while at >= 0:
            if (pos + at + phase) % align == 0:
                yield pos + at
            at = data.find(pattern, at + 1)
        pos += step

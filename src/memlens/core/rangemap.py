"""Sorted, non-overlapping ranges with fast point lookup.

Overlap policy is explicit and chosen by the caller at construction:

* ``Overlap.ERROR``  -- an overlapping range raises :class:`ValueError`.
* ``Overlap.KEEP_FIRST`` -- the part of a later range that overlaps an earlier
  one is dropped (the earlier range wins); what remains of the later range is
  kept, possibly split in two.  Dropped spans are recorded in ``conflicts`` so
  a reader can warn (rust-minidump's behaviour for MemoryList).

Zero-size ranges are ignored (recorded in ``empty``).  Ranges are half-open
``[start, end)``; ``end`` may be ``2**64`` (a range ending at the top of a
64-bit space).
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

T = TypeVar("T")


class Overlap(enum.Enum):
    ERROR = "error"
    KEEP_FIRST = "keep-first"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A span of a later range dropped because an earlier one covered it."""

    start: int
    end: int


def _sorted_disjoint(items: Sequence[tuple[int, int, object]]) -> bool:
    """Whether every range is non-empty and starts at or after the previous one's end."""
    prev = -1
    for start, end, _ in items:
        if start < prev or end <= start:
            return False
        prev = end
    return True


class RangeMap(Generic[T]):
    """Map from half-open integer ranges to values.

    Build it once from ``(start, end, value)`` triples; it is immutable after.
    """

    __slots__ = ("_ends", "_lasts_np", "_starts", "_starts_np", "_values", "conflicts", "empty")
    _starts_np: npt.NDArray[np.uint64] | None
    _lasts_np: npt.NDArray[np.uint64] | None

    def __init__(
        self,
        items: Iterable[tuple[int, int, T]],
        overlap: Overlap = Overlap.ERROR,
    ) -> None:
        self.conflicts: list[Conflict] = []
        self.empty: list[tuple[int, T]] = []
        items = items if isinstance(items, list) else list(items)
        if _sorted_disjoint(items):
            # Fast path (most sources list ranges in address order): O(n), no inserts.
            self._starts = [s for s, _, _ in items]
            self._ends = [e for _, e, _ in items]
            self._values = [v for _, _, v in items]
            self._starts_np = self._lasts_np = None
            return
        # Accepted ranges kept sorted by start; input order decides who is "first".
        starts: list[int] = []
        ends: list[int] = []
        values: list[T] = []
        for start, end, value in items:
            if end < start:
                raise ValueError(f"range end {end:#x} below start {start:#x}")
            if end == start:
                self.empty.append((start, value))
                continue
            i = bisect.bisect_right(starts, start)
            if i > 0 and ends[i - 1] > start:
                i -= 1
            # Collect the gaps of [start, end) not covered by accepted ranges.
            cursor = start
            pieces: list[tuple[int, int]] = []
            j = i
            while j < len(starts) and starts[j] < end:
                s, e = starts[j], ends[j]
                if overlap is Overlap.ERROR:
                    raise ValueError(f"range [{start:#x}, {end:#x}) overlaps [{s:#x}, {e:#x})")
                self.conflicts.append(Conflict(max(cursor, s), min(end, e)))
                if s > cursor:
                    pieces.append((cursor, s))
                cursor = max(cursor, e)
                j += 1
            if cursor < end:
                pieces.append((cursor, end))
            for ps, pe in pieces:
                pos = bisect.bisect_left(starts, ps)
                starts.insert(pos, ps)
                ends.insert(pos, pe)
                values.insert(pos, value)
        self._starts, self._ends, self._values = starts, ends, values
        self._starts_np = self._lasts_np = None

    @classmethod
    def from_columns(cls, starts: list[int], ends: list[int], values: Sequence[T]) -> RangeMap[T]:
        """Build from parallel columns already sorted, non-empty and disjoint (checked, O(n)).

        For sources that hold their ranges as arrays: no ``(start, end, value)``
        tuples are made.

        Raises:
            ValueError: the columns differ in length, or a range is empty or out of order.
        """
        if not len(starts) == len(ends) == len(values):
            raise ValueError("columns of different lengths")
        prev = -1
        for start, end in zip(starts, ends, strict=True):
            if start < prev or end <= start:
                raise ValueError(f"range [{start:#x}, {end:#x}) empty or out of order")
            prev = end
        self = cls.__new__(cls)
        self.conflicts = []
        self.empty = []
        self._starts = list(starts)
        self._ends = list(ends)
        self._values = list(values)
        self._starts_np = self._lasts_np = None
        return self

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int, T]]:
        return iter(zip(self._starts, self._ends, self._values, strict=True))

    def index(self, address: int) -> int:
        """Index of the range holding ``address``, or -1."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._ends[i]:
            return i
        return -1

    def find(self, address: int) -> tuple[int, int, T] | None:
        """The ``(start, end, value)`` holding ``address``, or ``None``."""
        i = self.index(address)
        if i < 0:
            return None
        return self._starts[i], self._ends[i], self._values[i]

    def find_many(self, addresses: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Vectorized :meth:`index`: for each address the range index, or -1."""
        import numpy as np

        if self._starts_np is None or self._lasts_np is None:
            # built on first use: most users of a RangeMap never call this, and
            # `memlens pages` must not import numpy
            self._starts_np = np.array(self._starts, dtype=np.uint64)
            # Last address (inclusive): uint64 cannot hold an end of 2**64.
            self._lasts_np = np.array([e - 1 for e in self._ends], dtype=np.uint64)
        starts, lasts = self._starts_np, self._lasts_np
        addrs = np.asarray(addresses, dtype=np.uint64)
        idx = np.searchsorted(starts, addrs, side="right").astype(np.int64) - 1
        ok = idx >= 0
        safe = np.where(ok, idx, 0)
        if len(lasts):
            ok &= addrs <= lasts[safe]
        else:
            ok[:] = False
        return np.where(ok, idx, -1)

    def value(self, i: int) -> T:
        return self._values[i]

    def bounds(self, i: int) -> tuple[int, int]:
        return self._starts[i], self._ends[i]

    def overlapping(self, start: int, end: int) -> Iterator[tuple[int, int, T]]:
        """Ranges that intersect ``[start, end)``, in address order."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while i < len(self._starts) and self._starts[i] < end:
            if self._ends[i] > start:
                yield self._starts[i], self._ends[i], self._values[i]
            i += 1

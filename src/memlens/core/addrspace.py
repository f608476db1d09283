"""One address space over the segments a source describes.

Sources only say *where* bytes come from (:class:`Segment`); this module does
the lookup, bounds checks and reads for all of them.  A segment with no backing
is mapped but *not saved* (a core's ``filesz < memsz`` tail, a memdump
mapping): reading it raises :class:`AddressError` unless ``pad=True``.
Unavailable bytes are never silently zero.
"""

from __future__ import annotations

import mmap
import struct
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from memlens.core.backing import Backing
from memlens.core.rangemap import Overlap, RangeMap
from memlens.core.region import Region
from memlens.errors import AddressError, MemlensError

if TYPE_CHECKING:
    # numpy is imported where it is used: `memlens pages` builds an address
    # space but never needs numpy, whose import costs more than that command
    import numpy as np
    import numpy.typing as npt

    #: numpy read tables: starts, last addresses, deltas, buffer index per piece, buffers
    _NpTables = tuple[
        npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64],
        npt.NDArray[np.int64], list["bytes | mmap.mmap"],
    ]  # fmt: skip

ByteOrder = Literal["little", "big"]

#: below every address (negative ones too): the start of the read tables' sentinel row
_SENTINEL_START = -(1 << 128)

NOT_SAVED = "not saved"
UNMAPPED = "unmapped"


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start, end)`` of the address space, backed by ``backing`` at ``backing_offset``.

    ``backing is None`` means the range is mapped but its bytes were not saved.
    """

    start: int
    end: int
    backing: Backing | None
    backing_offset: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def saved(self) -> bool:
        return self.backing is not None


@dataclass(frozen=True, slots=True)
class _Columns:
    """The segment table of :meth:`AddressSpace.from_columns`, kept to build segments lazily."""

    starts: npt.NDArray[np.uint64]
    sizes: npt.NDArray[np.uint64]
    offsets: npt.NDArray[np.uint64]
    saved: npt.NDArray[np.bool_]
    backing: Backing


class AddressSpace:
    """Regions plus segments of one target, with typed reads.

    Args:
        regions: the mappings (names, permissions); may be empty for sources that
            only know bytes.
        segments: where bytes come from; overlaps resolved by ``overlap``.
        word_size: 4 or 8; the size of a pointer.
        byteorder: ``"little"`` or ``"big"``.
    """

    word_size: int
    byteorder: ByteOrder
    _regions: list[Region] | None
    _regions_factory: Callable[[], Sequence[Region]] | None
    _region_map: RangeMap[Region] | None
    _segments: RangeMap[Segment] | None
    _columns: _Columns | None
    _seg_starts: list[int]
    _seg_ends: list[int]
    _seg_deltas: list[int]
    _seg_readers: list[Callable[[int, int], bytes] | None]
    _seg_buffers: list[bytes | mmap.mmap | None]
    _np_tables: _NpTables | None

    def __init__(
        self,
        regions: Sequence[Region],
        segments: Iterable[Segment],
        *,
        word_size: int = 8,
        byteorder: ByteOrder = "little",
        overlap: Overlap = Overlap.KEEP_FIRST,
    ) -> None:
        pieces = RangeMap(((s.start, s.end, s) for s in segments), overlap)
        # One bound method per backing, not per piece.
        readers: dict[int, Callable[[int, int], bytes]] = {}
        # Buffers that slice straight to bytes (BufferBacking over bytes/mmap): no call at all.
        buffers: dict[int, bytes | mmap.mmap | None] = {}
        for _, _, v in pieces:
            b = v.backing
            if b is not None and id(b) not in readers:
                readers[id(b)] = b.read
                buffers[id(b)] = getattr(b, "sliceable", None)
        backings = [v.backing for _, _, v in pieces]
        self._setup(
            regions, word_size, byteorder,
            starts=[s for s, _, _ in pieces],
            ends=[e for _, e, _ in pieces],
            # a piece's bytes are at backing_offset + (address - the segment's own start)
            deltas=[v.backing_offset - v.start for _, _, v in pieces],
            readers=[None if b is None else readers[id(b)] for b in backings],
            buffers=[None if b is None else buffers[id(b)] for b in backings],
        )
        self._segments = pieces

    @classmethod
    def from_columns(
        cls,
        regions: Sequence[Region] | Callable[[], Sequence[Region]],
        starts: npt.NDArray[np.uint64],
        sizes: npt.NDArray[np.uint64],
        offsets: npt.NDArray[np.uint64],
        saved: npt.NDArray[np.bool_],
        backing: Backing,
        *,
        word_size: int = 8,
        byteorder: ByteOrder = "little",
    ) -> AddressSpace:
        """An address space over a columnar segment table, built without a Python object per row.

        Row *i* is ``[starts[i], starts[i] + sizes[i])``, held by ``backing`` at
        ``offsets[i]`` when ``saved[i]``, else mapped but not saved.  Rows must be
        sorted, non-empty and disjoint; a row may end at exactly ``2**64``.
        ``regions`` may be a callable: it is called on first use of
        :attr:`regions`, so readers that never look at regions never build them.
        :class:`Segment` objects (:attr:`segments`) are likewise made on first use;
        reads need neither.

        Raises:
            ValueError: the columns differ in length or break the rules above.
        """
        import numpy as np

        n = len(starts)
        if not len(sizes) == len(offsets) == len(saved) == n:
            raise ValueError("segment columns of different lengths")
        starts = np.asarray(starts, dtype=np.uint64)
        sizes = np.asarray(sizes, dtype=np.uint64)
        lasts = starts + (sizes - np.uint64(1))  # wraps only for size 0 or past 2**64
        if n and (not sizes.all() or (lasts < starts).any() or (lasts[:-1] >= starts[1:]).any()):
            raise ValueError("segments must be sorted, non-empty, disjoint and below 2**64")
        self = cls.__new__(cls)
        starts_list = starts.tolist()
        ends = (starts + sizes).tolist()
        if n and ends[-1] == 0:  # only the last row can end at 2**64 (wraps to 0)
            ends[-1] = 1 << 64
        if n and int(starts[-1]) < 1 << 63 and int(offsets.max()) < 1 << 63:
            deltas = (offsets.astype(np.int64) - starts.astype(np.int64)).tolist()
        else:  # addresses or offsets past int64: Python ints
            deltas = [o - s for o, s in zip(offsets.tolist(), starts_list, strict=True)]
        read = backing.read
        buf: bytes | mmap.mmap | None = getattr(backing, "sliceable", None)
        if bool(saved.all()):  # the usual full dump: lists by repetition, not per row
            readers: list[Callable[[int, int], bytes] | None] = [read] * n
            buffers: list[bytes | mmap.mmap | None] = [buf] * n
        else:
            flags = saved.tolist()
            readers = [read if f else None for f in flags]
            buffers = [buf if f else None for f in flags]
        self._setup(regions, word_size, byteorder, starts=starts_list, ends=ends,
                    deltas=deltas, readers=readers, buffers=buffers)  # fmt: skip
        self._columns = _Columns(starts, sizes, np.asarray(offsets, dtype=np.uint64),
                                 np.asarray(saved, dtype=np.bool_), backing)  # fmt: skip
        return self

    def _setup(
        self,
        regions: Sequence[Region] | Callable[[], Sequence[Region]],
        word_size: int,
        byteorder: ByteOrder,
        *,
        starts: list[int],
        ends: list[int],
        deltas: list[int],
        readers: list[Callable[[int, int], bytes] | None],
        buffers: list[bytes | mmap.mmap | None],
    ) -> None:
        """The state both constructors share: regions, and the flat read tables of
        the pieces (sorted, disjoint) -- start, end, backing delta, the backing's read
        method and its sliceable buffer (None: not saved / not sliceable)."""
        if word_size not in (4, 8):
            raise ValueError(f"word size must be 4 or 8, not {word_size}")
        self.word_size = word_size
        self.byteorder = byteorder
        if callable(regions):
            self._regions, self._regions_factory = None, regions
        else:
            self._regions = sorted(regions, key=lambda r: (r.start, r.end))
            self._regions_factory = None
        self._region_map = None
        self._segments = None
        self._columns = None
        # Flat tables for the read fast path: one bisect, then one backing call.
        # Row 0 is a sentinel (starts below any address, ends at -1): every bisect
        # lands on a row, and the sentinel fails the bounds check like a miss.
        self._seg_starts = [_SENTINEL_START, *starts]
        self._seg_ends = [-1, *ends]
        self._seg_deltas = [0, *deltas]
        self._seg_readers = [None, *readers]
        self._seg_buffers = [None, *buffers]
        self._np_tables = None
        self._init_structs()

    def _init_structs(self) -> None:
        bo = "<" if self.byteorder == "little" else ">"
        self._struct = {
            1: struct.Struct(bo + "B"),
            2: struct.Struct(bo + "H"),
            4: struct.Struct(bo + "I"),
            8: struct.Struct(bo + "Q"),
        }

    @property
    def regions(self) -> list[Region]:
        """The mappings, sorted by address (built on first use for columnar spaces)."""
        if self._regions is None:
            assert self._regions_factory is not None
            self._regions = sorted(self._regions_factory(), key=lambda r: (r.start, r.end))
            self._regions_factory = None
        return self._regions

    @property
    def region_map(self) -> RangeMap[Region]:
        if self._region_map is None:
            self._region_map = RangeMap(
                ((r.start, r.end, r) for r in self.regions), Overlap.KEEP_FIRST
            )
        return self._region_map

    @property
    def segments(self) -> RangeMap[Segment]:
        """Where bytes come from, in address order (overlaps already resolved)."""
        if self._segments is None:
            assert self._columns is not None
            c = self._columns
            starts, ends = self._seg_starts[1:], self._seg_ends[1:]  # without the sentinel
            values = [Segment(s, e, c.backing if f else None, o) for s, e, f, o in
                      zip(starts, ends, c.saved.tolist(), c.offsets.tolist(),
                          strict=True)]  # fmt: skip
            self._segments = RangeMap.from_columns(starts, ends, values)
        return self._segments

    # -- lookup ---------------------------------------------------------------

    def region_at(self, address: int) -> Region | None:
        """The region holding ``address``, or ``None``."""
        hit = self.region_map.find(address)
        return hit[2] if hit else None

    def segment_at(self, address: int) -> Segment | None:
        hit = self.segments.find(address)
        return hit[2] if hit else None

    def is_readable(self, address: int, size: int = 1) -> bool:
        """Whether ``read(address, size)`` would succeed."""
        try:
            self._check(address, size)
        except AddressError:
            return False
        return True

    # -- reads ----------------------------------------------------------------

    def read(self, address: int, size: int, *, pad: bool = False) -> bytes:
        """``size`` bytes at ``address``.

        Raises:
            AddressError: some byte is unmapped or not saved (unless ``pad``,
                which zero-fills those bytes instead).
        """
        i = bisect_right(self._seg_starts, address) - 1  # >= 0: row 0 is the sentinel
        # The piece's own end, not seg.end: an overlap may have split the segment.
        if address + size <= self._seg_ends[i] and size > 0:
            buf = self._seg_buffers[i]
            if buf is not None:
                offset = address + self._seg_deltas[i]
                return buf[offset : offset + size]
            reader = self._seg_readers[i]
            if reader is not None:
                return reader(address + self._seg_deltas[i], size)
        if size < 0:
            raise ValueError("negative size")
        if size == 0:
            return b""
        end = address + size
        if not pad:
            self._check(address, size)
        out = bytearray(size)
        for start, stop, seg in self.segments.overlapping(address, end):
            if seg.backing is None:
                continue
            lo, hi = max(start, address), min(stop, end)
            out[lo - address : hi - address] = seg.backing.read(
                seg.backing_offset + lo - seg.start, hi - lo
            )
        return bytes(out)

    def read_many(
        self, addresses: npt.ArrayLike, size: int, *, pad: bool = False
    ) -> npt.NDArray[np.uint8]:
        """``size`` bytes at each address, as an array of shape ``(len(addresses), size)``.

        The batch form of :meth:`read` for analyses that follow many pointers:
        one ``searchsorted`` over the segment starts and one gather per backing
        buffer, instead of a Python call per address.  Addresses whose bytes are
        not in one buffer-backed segment (a live process, a read across
        segments) go through :meth:`read` one by one, with the same results.

        Raises:
            AddressError: for the first address (in order) with a byte unmapped or
                not saved, unless ``pad`` zero-fills them.
        """
        import numpy as np

        if size <= 0:
            raise ValueError("size must be positive")
        addrs = np.asarray(addresses, dtype=np.uint64).ravel()
        out = np.zeros((len(addrs), size), dtype=np.uint8)
        if len(addrs) == 0:
            return out
        starts, lasts, deltas, buffer_ids, buffers = self._read_tables()
        idx = np.searchsorted(starts, addrs, side="right").astype(np.int64) - 1
        safe = np.maximum(idx, 0)
        # Fits in the piece: addr + size - 1 <= last (no wrap: compare from the last).
        fits = (idx >= 0) & (lasts[safe] >= np.uint64(size - 1))
        fits &= addrs <= lasts[safe] - np.uint64(size - 1)
        fast = fits & (buffer_ids[safe] >= 0)
        span = np.arange(size, dtype=np.int64)
        for b, buf in enumerate(buffers):
            rows = np.flatnonzero(fast & (buffer_ids[safe] == b))
            if len(rows) == 0:
                continue
            data = np.frombuffer(buf, dtype=np.uint8)
            offsets = (addrs[rows].astype(np.int64) + deltas[safe[rows]])[:, None] + span
            out[rows] = data[offsets]
        for row in np.flatnonzero(~fast):
            out[row] = np.frombuffer(self.read(int(addrs[row]), size, pad=pad), dtype=np.uint8)
        return out

    def _read_tables(self) -> _NpTables:
        """Numpy views of the read tables (built once): starts, last addresses,
        backing deltas, and the index of each piece's sliceable buffer (-1: none)."""
        if self._np_tables is None:
            import numpy as np

            starts = self._seg_starts[1:]
            ends = self._seg_ends[1:]
            top = (1 << 64) - 1
            buffers: list[bytes | mmap.mmap] = []
            seen: dict[int, int] = {}
            ids = []
            for buf in self._seg_buffers[1:]:
                if buf is None:
                    ids.append(-1)
                    continue
                if id(buf) not in seen:
                    seen[id(buf)] = len(buffers)
                    buffers.append(buf)
                ids.append(seen[id(buf)])
            # A delta beyond int64 (a piece near the top, e.g. the vsyscall page at
            # 0xffffffffff600000) takes that piece off the gather, not every piece.
            deltas = self._seg_deltas[1:]
            small = [-(1 << 63) <= d < 1 << 63 for d in deltas]
            self._np_tables = (
                np.array(starts, dtype=np.uint64),
                np.array([min(e, top + 1) - 1 for e in ends], dtype=np.uint64),
                np.array([d if k else 0 for d, k in zip(deltas, small, strict=True)], np.int64),
                np.array([i if k else -1 for i, k in zip(ids, small, strict=True)], np.int64),
                buffers,
            )
        return self._np_tables

    def _check(self, address: int, size: int) -> None:
        cursor = address
        end = address + size
        for start, stop, seg in self.segments.overlapping(address, end):
            if start > cursor:
                break
            if seg.backing is None:
                raise AddressError(cursor, NOT_SAVED, size)
            cursor = stop
            if cursor >= end:
                return
        if cursor < end:
            raise AddressError(cursor, UNMAPPED, size)

    def u8(self, address: int) -> int:
        return int(self._struct[1].unpack(self.read(address, 1))[0])

    def u16(self, address: int) -> int:
        return int(self._struct[2].unpack(self.read(address, 2))[0])

    def u32(self, address: int) -> int:
        return int(self._struct[4].unpack(self.read(address, 4))[0])

    def u64(self, address: int) -> int:
        return int(self._struct[8].unpack(self.read(address, 8))[0])

    def pointer(self, address: int) -> int:
        """A word of the target's pointer size."""
        return int(self._struct[self.word_size].unpack(self.read(address, self.word_size))[0])

    def words(self, address: int, count: int, *, pad: bool = False) -> npt.NDArray[np.uint64]:
        """``count`` target words as a uint64 array (native order)."""
        import numpy as np

        dtype = np.dtype(f"{'<' if self.byteorder == 'little' else '>'}u{self.word_size}")
        raw = self.read(address, count * self.word_size, pad=pad)
        return np.frombuffer(raw, dtype=dtype).astype(np.uint64)

    def word(self, address: int) -> int | None:
        """The pointer-sized word at ``address``, or ``None`` when any byte is unavailable."""
        ws = self.word_size
        i = bisect_right(self._seg_starts, address) - 1
        if address + ws <= self._seg_ends[i]:
            buf = self._seg_buffers[i]
            if buf is not None:
                offset = address + self._seg_deltas[i]
                raw = buf[offset : offset + ws]
            else:
                reader = self._seg_readers[i]
                if reader is None:
                    return None
                try:
                    raw = reader(address + self._seg_deltas[i], ws)
                except MemlensError:
                    return None
            if len(raw) == ws:
                return int.from_bytes(raw, self.byteorder)
        try:
            return int.from_bytes(self.read(address, ws), self.byteorder)
        except (AddressError, MemlensError):
            return None

    def view(self, address: int, size: int) -> npt.NDArray[np.uint8] | None:
        """``size`` bytes at ``address`` as a uint8 array, zero-copy where the backing
        allows it; ``None`` unless every byte lies in one saved piece.

        The piece is the segment as an overlap may have split it: the offset into
        its backing is taken from the piece's own start, not the segment's.
        """
        if size < 0 or address < 0:
            return None
        i = bisect_right(self._seg_starts, address) - 1
        if i == 0 or address + size > self._seg_ends[i] or self._seg_readers[i] is None:
            return None
        offset = address + self._seg_deltas[i]
        backing = self._backing_of(i)
        try:
            arr = backing.array(offset, size)
        except (ValueError, MemlensError):
            return None
        return arr if len(arr) == size else None

    def read_masked(self, address: int, size: int) -> tuple[bytes, list[bool]]:
        """``size`` bytes at ``address`` (zeros where unavailable) and a per-byte mask
        saying which were available.  A live backing may refuse part of a segment;
        such parts count as unavailable."""
        data = bytearray(size)
        mask = [False] * size
        end = address + size
        for start, stop, seg in self.segments.overlapping(address, end):
            if seg.backing is None:
                continue
            lo, hi = max(start, address), min(stop, end)
            try:
                chunk = seg.backing.read(seg.backing_offset + lo - seg.start, hi - lo)
            except MemlensError:
                continue
            data[lo - address : lo - address + len(chunk)] = chunk
            mask[lo - address : lo - address + len(chunk)] = [True] * len(chunk)
        return bytes(data), mask

    def saved_pieces(self) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
        """Each saved piece of the space, in address order, as its start address and
        its bytes (zero-copy where the backing allows it).  Pieces of one segment
        split by an overlap come out separately, each with its own bytes."""
        for start, end, seg in self.saved_ranges():
            assert seg.backing is not None
            yield start, seg.backing.array(seg.backing_offset + start - seg.start, end - start)

    def _backing_of(self, piece: int) -> Backing:
        """The backing of read-table row ``piece`` (row 0 is the sentinel)."""
        if self._columns is not None:
            return self._columns.backing
        hit = self.segments.find(self._seg_starts[piece])
        assert hit is not None and hit[2].backing is not None
        return hit[2].backing

    def cstring(self, address: int, limit: int = 4096, *, pad: bool = True) -> bytes:
        """Bytes from ``address`` up to (not including) a NUL, at most ``limit``.

        ``pad=False``: every byte up to the NUL must be available (else
        :class:`AddressError`).  Reads stop at page ends, so a page after the
        string's end is never touched.

        Raises:
            AddressError: with ``pad=False``, a byte before the NUL is unavailable.
        """
        out = bytearray()
        while len(out) < limit:
            at = address + len(out)
            chunk = self.read(at, min(limit - len(out), 4096 - at % 4096), pad=pad)
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                break
            out += chunk
        return bytes(out)

    # -- search ---------------------------------------------------------------

    def saved_ranges(self) -> Iterator[tuple[int, int, Segment]]:
        """Segments whose bytes are available, in address order."""
        for start, end, seg in self.segments:
            if seg.backing is not None:
                yield start, end, seg

    def find(
        self, pattern: bytes, start: int = 0, end: int = 1 << 64, *, align: int = 1
    ) -> Iterator[int]:
        """Every address in ``[start, end)`` where ``pattern`` occurs (saved bytes only).

        Matches do not span segments: separately saved ranges are not known to
        be adjacent in the target.  ``align`` keeps only aligned matches.
        """
        if not pattern:
            raise ValueError("empty pattern")
        for seg_start, seg_end, seg in self.saved_ranges():
            lo, hi = max(seg_start, start), min(seg_end, end)
            if hi - lo < len(pattern):
                continue
            assert seg.backing is not None
            base = seg.backing_offset - seg.start
            for hit in seg.backing.find_all(pattern, lo + base, hi + base, align, -base):
                yield hit - base

    # -- totals ---------------------------------------------------------------

    def saved_bytes(self, start: int, end: int) -> int:
        """How many bytes of ``[start, end)`` are saved."""
        total = 0
        for s, e, seg in self.segments.overlapping(start, end):
            if seg.backing is not None:
                total += min(e, end) - max(s, start)
        return total

    def mapped_bytes(self, start: int, end: int) -> int:
        """How many bytes of ``[start, end)`` are covered by segments (saved or not)."""
        return sum(min(e, end) - max(s, start) for s, e, _ in self.segments.overlapping(start, end))

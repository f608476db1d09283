"""The shim's per-stack accounting table (``PID-K.mlstats``): read it, live or after the end.

The shim (``memlens/shim/stats_table.h``) keeps one table per process in a
file-backed shared mapping, so the figures are complete whatever way the
process ended.  Layout (little-endian; docs/heap.md is the reference)::

    header   4096 bytes: magic "MLSTATS1", version, frames per entry, entry
             size, capacity, index slots, index/entries offsets, pid, ppid,
             sampling period, start/exit times (ns), exec index, thread slots;
             then live bytes, the counts of threads past the slots, the peak
             (bytes, time, epoch), the stack count, snapshot requests, threads
    slots    1024 x 64 bytes: each thread's allocations, frees, bytes, temporaries
    modules  256 x 256 bytes: loaded objects (bias, address range, path), noted
             at start-up and after each dlopen
    index    index_slots x u32 (the shim's hash index; not needed to read)
    entries  capacity x entry_size: hash u64, nframes u32, state u32,
             10 counters u64, frames u64[frames]

A stack's live bytes at the global peak are ``peak_bytes`` when its
``peak_epoch`` equals the header's, else its current ``live_bytes`` (the
stack has not changed since that peak).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from memlens.core.module import Module
from memlens.errors import FormatError
from memlens.heap.pyframes import PY_TAG, TAG_MASK

MAGIC = 0x3153544154534C4D  # b"MLSTATS1"
VERSION = 2
HEADER_FIELDS: dict[str, int | tuple[int, int]] = {
    "magic": 0, "version": (8, 4), "frames": (12, 4), "entry_size": (16, 4),
    "hdr_size": (20, 4), "capacity": 24, "index_slots": 32, "index_off": 40,
    "entries_off": 48, "pid": 56, "ppid": 64, "sample_period": 72, "start_ns": 80,
    "start_real_ns": 88, "exit_ns": 96, "exec_index": 104, "slots_off": 112,
    "slot_count": 120, "live_bytes": 128, "peak_bytes": 192, "peak_ns": 208,
    "peak_epoch": 216, "count": 256, "dropped": 264, "snap_request": 272,
    "snap_served": 280, "threads": 288, "modules_off": 296, "module_cap": 304,
    "module_count": 312,
}  # fmt: skip
MODULE_BYTES = 256  # bias, lo, hi (u64), path (232 bytes, NUL-terminated)
THREAD_COUNTS = ("allocs", "frees", "bytes", "temps")  # per-thread slot and header overflow
OVERFLOW_OFFSET = 144  # the header's counts for threads past the slots
SNAP_REQUEST_OFFSET = 272
SLOT_WORDS = 8
ENTRY_FIXED = 16 + 8 * 10  # hash, nframes, state, counters[10]
# counters[10] of an entry: allocs, frees, bytes, freed bytes, -, temps, peak
# bytes, peak blocks, peak epoch, -
C_ALLOCS, C_FREES, C_BYTES, C_FREED, C_TEMPS, C_PEAK_BYTES, C_PEAK_BLOCKS, C_EPOCH = (
    0, 1, 2, 3, 5, 6, 7, 8
)
SUFFIX = ".mlstats"

U64 = npt.NDArray[np.uint64]
_WORD, _TWO_WORDS = struct.Struct("<Q"), struct.Struct("<QQ")


@dataclass(frozen=True, slots=True)
class Totals:
    """The header's figures at one moment."""

    pid: int
    ppid: int
    exec_index: int
    sample_period: int
    start_ns: int
    start_real_ns: int
    exit_ns: int
    live_bytes: int
    live_blocks: int
    allocs: int
    frees: int
    bytes: int
    temps: int
    peak_bytes: int
    peak_blocks: int  # summed over the stacks' figures at the peak
    peak_ns: int
    peak_epoch: int
    count: int
    dropped: int

    @property
    def peak_after(self) -> float:
        """Seconds from the start of the program to its heap peak."""
        return max(self.peak_ns - self.start_ns, 0) / 1e9 if self.peak_ns else 0.0


class QuickCounts(NamedTuple):
    start_ns: int
    live_bytes: int
    allocs: int
    frees: int


@dataclass(frozen=True, slots=True)
class StackRows:
    """One row per interned stack (id = row); the columns of the shim's counters.

    ``peak`` holds each stack's live bytes at the global peak (already resolved
    from the epochs); ``stacks[i]`` its return addresses, innermost first.
    Row 0 is the "no stack" bucket.
    """

    stacks: list[tuple[int, ...]]
    allocs: U64
    frees: U64
    bytes: U64
    live_bytes: U64
    live_blocks: U64
    temps: U64
    peak_bytes: U64
    peak_blocks: U64


def header_field(buf: bytes | mmap.mmap | memoryview, name: str) -> int:
    spec = HEADER_FIELDS[name]
    off, size = (spec, 8) if isinstance(spec, int) else (spec[0], spec[1])
    return int.from_bytes(buf[off : off + size], "little")


class StatsTable:
    """A table file, mapped read-write (``memlens run`` writes snapshot requests into it).

    Raises:
        FormatError: not a table, or its layout does not fit the file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as e:
            raise FormatError(path, 0, f"cannot open: {e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < 4096:
                raise FormatError(path, 0, "too short for a stats table")
            self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        m = self._map
        if header_field(m, "magic") != MAGIC:
            raise FormatError(path, 0, "not a memlens stats table (bad magic)")
        if header_field(m, "version") != VERSION:
            raise FormatError(path, 8, f"stats table version {header_field(m, 'version')} unknown")
        self.frames = header_field(m, "frames")
        self.entry_size = header_field(m, "entry_size")
        self.capacity = header_field(m, "capacity")
        self.entries_off = header_field(m, "entries_off")
        if (
            not 1 <= self.frames <= 64
            or self.entry_size != ENTRY_FIXED + 8 * self.frames
            or self.entries_off + self.capacity * self.entry_size > size
        ):
            raise FormatError(path, 12, "stats table layout does not fit the file")
        self._words = np.frombuffer(m, dtype="<u8")
        self._slots_off = header_field(m, "slots_off")
        self._slot_count = header_field(m, "slot_count")
        # The thread slots as a memoryview of words: a timeline tick adds up the calls
        # and frees of the used ones with no numpy call (each costs a tick ~10 us)
        self._slot_words = memoryview(m)[self._slots_off : self._slots_off + 64 * self._slot_count]
        self._slot_words = self._slot_words.cast("Q")

    def close(self) -> None:
        self._words = np.zeros(0, dtype="<u8")
        self._slot_words.release()
        self._map.close()

    def __enter__(self) -> StatsTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def totals(self, peak_blocks: bool = False) -> Totals:
        """The header's figures plus every thread's counts.

        ``peak_blocks`` also sums the stacks' block counts at the peak (one pass
        over the entries; the timeline does without).
        """
        w = self._words
        values: dict[str, int] = {
            name: (int(w[spec // 8]) if isinstance(spec, int) else header_field(self._map, name))
            for name, spec in HEADER_FIELDS.items()
            if name in Totals.__dataclass_fields__
        }
        slots_off = header_field(self._map, "slots_off")
        slot_count = header_field(self._map, "slot_count")
        used = min(header_field(self._map, "threads"), slot_count)
        start = slots_off // 8
        slots = w[start : start + used * SLOT_WORDS].reshape(used, SLOT_WORDS)
        for k, name in enumerate(THREAD_COUNTS):
            values[name] = int(w[OVERFLOW_OFFSET // 8 + k]) + int(slots[:, k].sum())
        values["live_blocks"] = values["allocs"] - values["frees"]
        values["peak_blocks"] = self._peak_blocks(values["peak_epoch"]) if peak_blocks else 0
        return Totals(**values)

    def _peak_blocks(self, epoch: int) -> int:
        count = min(header_field(self._map, "count"), self.capacity)
        c = self._entries(count)[:, 2:12]
        at = c[:, C_EPOCH] == np.uint64(epoch)
        live = c[:, C_ALLOCS] - c[:, C_FREES]
        return int(np.where(at, c[:, C_PEAK_BLOCKS], live).sum())

    def exited(self) -> bool:
        """Whether the shim's destructor ran (the process is ending)."""
        return bool(self._words[96 // 8])

    def request_snapshot(self) -> None:
        """Ask the shim for a snapshot at its next allocation (no signal)."""
        i = SNAP_REQUEST_OFFSET // 8
        self._words_rw()[i] += np.uint64(1)

    def _words_rw(self) -> U64:
        return np.frombuffer(self._map, dtype="<u8")

    def _entries(self, count: int) -> U64:
        """Rows of ``entry_size / 8`` words for the first ``count`` stacks."""
        width = self.entry_size // 8
        start = self.entries_off // 8
        return self._words[start : start + count * width].reshape(count, width)

    def quick_counts(self) -> QuickCounts:
        """The few figures a timeline sample needs, read with as little work as possible."""
        m = self._map
        start, live = _WORD.unpack_from(m, 80)[0], _WORD.unpack_from(m, 128)[0]
        over_allocs, over_frees = _TWO_WORDS.unpack_from(m, OVERFLOW_OFFSET)
        used = min(_WORD.unpack_from(m, 288)[0], self._slot_count)
        words = self._slot_words
        allocs = over_allocs + sum(words[0 : used * SLOT_WORDS : SLOT_WORDS])
        frees = over_frees + sum(words[1 : used * SLOT_WORDS : SLOT_WORDS])
        return QuickCounts(start, live, allocs, frees)

    def modules(self) -> list[Module]:
        """The objects the shim noted as they were loaded (at start-up, after each dlopen)."""
        off = header_field(self._map, "modules_off")
        count = min(header_field(self._map, "module_count"), header_field(self._map, "module_cap"))
        out = []
        for i in range(count):
            raw = self._map[off + i * MODULE_BYTES : off + (i + 1) * MODULE_BYTES]
            bias, lo, hi = (int.from_bytes(raw[k : k + 8], "little") for k in (0, 8, 16))
            path = raw[24:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if path and hi > lo:
                out.append(Module(path, lo, hi, load_bias=bias))
        return out

    def live_by_stack(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each stack's live bytes and blocks now (signed: a figure read while the shim
        changes it may be a moment off), cheaply for the timeline."""
        c = self._entries(self.stack_count())
        live = (c[:, 2 + C_BYTES] - c[:, 2 + C_FREED]).view(np.int64)
        blocks = (c[:, 2 + C_ALLOCS] - c[:, 2 + C_FREES]).view(np.int64)
        return live, blocks

    def stack_count(self) -> int:
        """How many stacks the table holds now (row 0, "no stack", included)."""
        return min(int(_WORD.unpack_from(self._map, 256)[0]), self.capacity)

    def stacks(self, start: int = 0) -> list[tuple[int, ...]]:
        """The stacks of rows ``start`` and after (a stack still being written is empty)."""
        count = min(header_field(self._map, "count"), self.capacity)
        return _stacks(self._entries(count)[start:].copy(), self.frames)

    def python_entries(self, start: int) -> tuple[set[tuple[int, int]], int]:
        """The Python frames, as ``(tag word, offset)`` (see :mod:`memlens.heap.pyframes`),
        of the rows from ``start`` up to one still being written; and how many rows
        that was.  Found with numpy over the whole block, not stack by stack."""
        count = min(header_field(self._map, "count"), self.capacity)
        e = self._entries(count)[start:].copy()
        unwritten = np.flatnonzero((e[:, 1] >> np.uint64(32)) != 1)
        if len(unwritten):
            e = e[: unwritten[0]]
        nframes = np.minimum((e[:, 1] & np.uint64(0xFFFFFFFF)).astype(np.int64), self.frames)
        words = e[:, 12 : 12 + self.frames]
        # a tag word with its offset word after it, both within the stack
        tagged = (words & np.uint64(TAG_MASK)) == np.uint64(PY_TAG)
        tagged[:, :-1] &= np.arange(1, self.frames)[None, :] < nframes[:, None]
        tagged[:, -1] = False
        rows, cols = np.nonzero(tagged)
        pairs = zip(words[rows, cols].tolist(), words[rows, cols + 1].tolist(), strict=True)
        return set(pairs), len(e)

    def rows(self) -> StackRows:
        """Every stack with its counters (a consistent copy only once the process ended)."""
        t = self.totals()
        count = min(t.count, self.capacity)
        e = self._entries(count).copy()
        c = e[:, 2:12]
        live_b, live_n = c[:, C_BYTES] - c[:, C_FREED], c[:, C_ALLOCS] - c[:, C_FREES]
        at_epoch = c[:, C_EPOCH] == np.uint64(t.peak_epoch)
        stacks = _stacks(e, self.frames)
        return StackRows(
            stacks=stacks,
            allocs=c[:, C_ALLOCS], frees=c[:, C_FREES], bytes=c[:, C_BYTES], live_bytes=live_b,
            live_blocks=live_n, temps=c[:, C_TEMPS],
            peak_bytes=np.where(at_epoch, c[:, C_PEAK_BYTES], live_b),
            peak_blocks=np.where(at_epoch, c[:, C_PEAK_BLOCKS], live_n),
        )  # fmt: skip


def _stacks(entries: U64, frames: int) -> list[tuple[int, ...]]:
    """The stack of each table entry: its frame words, none while the shim writes it."""
    nframes = (entries[:, 1] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    state = entries[:, 1] >> np.uint64(32)
    nframes = np.where(state == 1, np.minimum(nframes, frames), 0)
    return frame_tuples(entries[:, 12 : 12 + frames], nframes)


def frame_tuples(frames: U64, nframes: npt.NDArray[np.integer[Any]]) -> list[tuple[int, ...]]:
    """Each row of ``frames`` (zero padded) cut to its count: one stack a row."""
    # one conversion to Python ints for the whole block, then slices of it
    return [tuple(w[:n]) for w, n in zip(frames.tolist(), nframes.tolist(), strict=True)]


def is_stats_file(path: str) -> bool:
    """Whether ``path`` is a stats table (by its magic)."""
    try:
        with open(path, "rb") as f:
            return int.from_bytes(f.read(8), "little") == MAGIC
    except OSError:
        return False


def table_paths(directory: str) -> list[str]:
    """The tables in a ``memlens run`` output directory, in name order."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names]

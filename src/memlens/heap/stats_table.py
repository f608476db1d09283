"""The shim's per-stack accounting table (``PID-K.mlstats``): read it, live or after the end.

The shim (``memlens/shim/stats_table.h``) keeps one table per process in a
file-backed shared mapping, so the figures are complete whatever way the
process ended.  Layout (little-endian; docs/heap.md is the reference)::

    header   4096 bytes: magic "MLSTATS1", version, frames per entry, entry
             size, capacity, index slots, index/entries offsets, pid, ppid,
             sampling period, start/exit times (ns), exec index; then the
             counters (live bytes/blocks, allocations, frees, bytes allocated,
             temporaries), the peak (bytes, blocks, time, epoch, allocations so
             far) and the stack count
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
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError

MAGIC = 0x3153544154534C4D  # b"MLSTATS1"
VERSION = 1
HEADER_FIELDS: dict[str, int | tuple[int, int]] = {
    "magic": 0, "version": (8, 4), "frames": (12, 4), "entry_size": (16, 4),
    "hdr_size": (20, 4), "capacity": 24, "index_slots": 32, "index_off": 40,
    "entries_off": 48, "pid": 56, "ppid": 64, "sample_period": 72, "start_ns": 80,
    "start_real_ns": 88, "exit_ns": 96, "exec_index": 104,
    "live_bytes": 128, "live_blocks": 136, "allocs": 144, "frees": 152, "bytes": 160,
    "temps": 168, "peak_bytes": 192, "peak_blocks": 200, "peak_ns": 208,
    "peak_epoch": 216, "peak_allocs": 224, "count": 256, "dropped": 264,
    "snap_request": 272, "snap_served": 280,
}  # fmt: skip
SNAP_REQUEST_OFFSET = 272
COUNTERS = ("allocs", "frees", "bytes", "live_bytes", "live_blocks", "temps",
            "peak_bytes", "peak_blocks", "peak_epoch")  # fmt: skip
ENTRY_FIXED = 16 + 8 * 10  # hash, nframes, state, counters[10]
SUFFIX = ".mlstats"

U64 = npt.NDArray[np.uint64]


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
    peak_blocks: int
    peak_ns: int
    peak_epoch: int
    peak_allocs: int
    count: int
    dropped: int

    @property
    def peak_after(self) -> float:
        """Seconds from the start of the program to its heap peak."""
        return max(self.peak_ns - self.start_ns, 0) / 1e9 if self.peak_ns else 0.0


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


def _field(buf: bytes | mmap.mmap | memoryview, name: str) -> int:
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
        if _field(m, "magic") != MAGIC:
            raise FormatError(path, 0, "not a memlens stats table (bad magic)")
        if _field(m, "version") != VERSION:
            raise FormatError(path, 8, f"stats table version {_field(m, 'version')} unknown")
        self.frames = _field(m, "frames")
        self.entry_size = _field(m, "entry_size")
        self.capacity = _field(m, "capacity")
        self.entries_off = _field(m, "entries_off")
        if (
            not 1 <= self.frames <= 64
            or self.entry_size != ENTRY_FIXED + 8 * self.frames
            or self.entries_off + self.capacity * self.entry_size > size
        ):
            raise FormatError(path, 12, "stats table layout does not fit the file")
        self._words = np.frombuffer(m, dtype="<u8")

    def close(self) -> None:
        self._words = np.zeros(0, dtype="<u8")
        self._map.close()

    def __enter__(self) -> StatsTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def totals(self) -> Totals:
        w = self._words
        values = {
            name: (int(w[spec // 8]) if isinstance(spec, int) else _field(self._map, name))
            for name, spec in HEADER_FIELDS.items()
            if name in Totals.__dataclass_fields__
        }
        return Totals(**values)

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

    def live_by_stack(self) -> U64:
        """Each stack's live bytes now (a cheap view for the timeline)."""
        count = min(_field(self._map, "count"), self.capacity)
        return self._entries(count)[:, 2 + 3].copy()

    def rows(self) -> StackRows:
        """Every stack with its counters (a consistent copy only once the process ended)."""
        t = self.totals()
        count = min(t.count, self.capacity)
        e = self._entries(count).copy()
        nframes = (e[:, 1] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        state = e[:, 1] >> np.uint64(32)
        nframes = np.where(state == 1, np.minimum(nframes, self.frames), 0)
        c = e[:, 2:12]
        live_b, live_n = c[:, 3], c[:, 4]
        at_epoch = c[:, 8] == np.uint64(t.peak_epoch)
        frames = e[:, 12 : 12 + self.frames]
        stacks = [tuple(int(a) for a in frames[i, : nframes[i]]) for i in range(count)]
        return StackRows(
            stacks=stacks,
            allocs=c[:, 0], frees=c[:, 1], bytes=c[:, 2], live_bytes=live_b, live_blocks=live_n,
            temps=c[:, 5],
            peak_bytes=np.where(at_epoch, c[:, 6], live_b),
            peak_blocks=np.where(at_epoch, c[:, 7], live_n),
        )  # fmt: skip


def table_paths(directory: str) -> list[str]:
    """The tables in a ``memlens run`` output directory, in name order."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names]

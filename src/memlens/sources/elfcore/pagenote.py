"""The MEMLENS notes of a ``memlens snapshot`` core: per-page pagemap state.

gdb and readelf skip notes whose owner they do not know, so the page state of
a live process travels inside a standard core: an info note (``"MLSI"``) and
one pages note (``"MLPT"``, version 2; version 1 is still read) per region.
Their layout is described in docs/formats.md ("``memlens snapshot`` cores").
Storing only non-zero pagemap entries keeps sparse regions (most of a big
heap reservation) to a few bytes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import Segment
from memlens.core.backing import Backing
from memlens.core.pages import PageTable

OWNER = "MEMLENS"
NT_MEMLENS_INFO = 0x4D4C5301  # "ML" S 1: high values no other tool (BFD) reads as its own
NT_MEMLENS_PAGES = 0x4D4C5302
VERSION = 2  # of the pages note
INFO_VERSION = 1
INFO_MAGIC = b"MLSI"
PAGES_MAGIC = b"MLPT"
FLAG_COUNTS = 1
FLAG_FLAGS = 2
FLAG_PARTIAL = 4

_INFO = struct.Struct("<4sHH")
_PAGES_V1 = struct.Struct("<4sHHIIQQQ")
_PAGES = struct.Struct("<4sHHIIQQQQQ")

#: regions with more pages than this get a table that stops after the last non-zero entry
#: (a partial table), so memory stays bounded by the note's size
MAX_TABLE_PAGES = 1 << 20
#: ... and past that many pages a table is expanded only while it is this dense (1 in N)
MAX_SPREAD = 512
#: pages encoded at a time
ENCODE_BLOCK = 1 << 16


class PageNoteError(ValueError):
    """A MEMLENS note is malformed (the reader turns it into a warning)."""


def encode_info(info: dict[str, Any]) -> bytes:
    return _INFO.pack(INFO_MAGIC, INFO_VERSION, 0) + json.dumps(info, sort_keys=True).encode()


def decode_info(desc: bytes | memoryview) -> dict[str, Any]:
    if len(desc) < _INFO.size:
        raise PageNoteError("info note too short")
    magic, version, _ = _INFO.unpack_from(desc)
    if magic != INFO_MAGIC or version != INFO_VERSION:
        raise PageNoteError(f"info note magic {magic!r} version {version} not understood")
    try:
        info = json.loads(bytes(desc[_INFO.size :]).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PageNoteError(f"info note JSON: {e}") from None
    if not isinstance(info, dict):
        raise PageNoteError("info note is not a JSON object")
    return info


def encode_pages(table: PageTable, region_pages: int,
                 saved: Sequence[tuple[int, int]]) -> bytes:  # fmt: skip
    """The pages note of one region: ``table`` (which may list fewer pages than the region
    has) and the runs of pages whose bytes were saved, as (first page, pages)."""
    return b"".join(iter_pages_note(table, region_pages, saved)[1])


def iter_pages_note(table: PageTable, region_pages: int, saved: Sequence[tuple[int, int]]
                    ) -> tuple[int, Iterator[bytes]]:  # fmt: skip
    """(size, pieces) of the pages note of one region, the pieces made a block of pages
    at a time as they are written: a 2 GiB heap's note (16 MiB) never sits in memory
    beside its page table."""
    entries = np.asarray(table.entries, dtype="<u8")
    n = int(np.count_nonzero(entries))
    columns = [entries] + [np.asarray(c, dtype="<u8") for c in (table.counts, table.flags)
                           if c is not None]  # fmt: skip
    flags = (
        (FLAG_COUNTS if table.counts is not None else 0)
        | (FLAG_FLAGS if table.flags is not None else 0)
        | (FLAG_PARTIAL if table.partial else 0)
    )
    size = _PAGES.size + 8 * (n * (1 + len(columns)) + 2 * len(saved))
    head = _PAGES.pack(PAGES_MAGIC, VERSION, flags, table.page_size, 0, table.start,
                       max(region_pages, len(entries)), len(entries), n, len(saved))  # fmt: skip

    def blocks(column: npt.NDArray[np.uint64] | None) -> Iterator[bytes]:
        for at in range(0, len(entries), ENCODE_BLOCK):
            index = np.flatnonzero(entries[at : at + ENCODE_BLOCK])
            if not len(index):
                continue
            if column is None:
                yield (index + at).astype("<u8").tobytes()
            else:
                yield column[at : at + ENCODE_BLOCK][index].astype("<u8").tobytes()

    def pieces() -> Iterator[bytes]:
        yield head
        yield from blocks(None)
        for column in columns:
            yield from blocks(column)
        if saved:
            yield np.asarray(saved, dtype="<u8").reshape(-1).tobytes()

    return size, pieces()


@dataclass(frozen=True, slots=True)
class PageNote:
    """One region's note, decoded lazily into a :class:`PageTable`.

    ``npages`` is the region's page count, ``listed`` the pages with a known entry,
    ``nruns`` the saved runs (``None`` for a version-1 note, which has none).
    """

    start: int
    page_size: int
    npages: int
    listed: int
    flags: int
    nnz: int
    nruns: int | None
    header: int
    desc: bytes | memoryview  # a view of the mapped core: decoded only when asked for

    def table(self, unavailable: dict[str, str]) -> PageTable:
        n = self.nnz
        arrays = np.frombuffer(self.desc, dtype="<u8", offset=self.header, count=n * self.columns)
        cols = arrays.reshape(self.columns, n)
        index = cols[0]
        if n and (int(index.max()) >= self.listed):
            raise PageNoteError(f"page index past the note's {self.listed} listed pages")

        size = self.listed
        partial = "saved table was partial" if self.flags & FLAG_PARTIAL else None
        if size > MAX_TABLE_PAGES:
            size = int(index.max()) + 1 if n else 0
            partial = f"only the first {size} pages listed (later pages have empty entries)"
            if size > MAX_TABLE_PAGES and size > MAX_SPREAD * n:
                raise PageNoteError(f"{n} entries spread over {size} pages: too sparse to expand")

        def spread(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
            out = np.zeros(size, dtype=np.uint64)
            out[index] = values
            return out

        counts = spread(cols[2]) if self.flags & FLAG_COUNTS else None
        flag_col = 2 + bool(self.flags & FLAG_COUNTS)
        flags = spread(cols[flag_col]) if self.flags & FLAG_FLAGS else None
        return PageTable(self.start, self.page_size, spread(cols[1]), counts, flags,
                         dict(unavailable), partial)  # fmt: skip

    def saved_runs(self) -> list[tuple[int, int]] | None:
        """(first page, pages) of each run the core holds, or ``None`` (version 1: all of it).

        Raises:
            PageNoteError: runs out of order, overlapping, or past the region.
        """
        if self.nruns is None:
            return None
        at = self.header + 8 * self.nnz * self.columns
        pairs = np.frombuffer(self.desc, dtype="<u8", offset=at, count=2 * self.nruns)
        runs = [(int(a), int(b)) for a, b in pairs.reshape(-1, 2)]
        end = 0
        for first, count in runs:
            if first < end or count == 0 or first + count > self.npages:
                raise PageNoteError(f"saved run ({first}, {count}) out of order or past the "
                                    f"region's {self.npages} pages")  # fmt: skip
            end = first + count
        return runs

    @property
    def columns(self) -> int:
        return 2 + bool(self.flags & FLAG_COUNTS) + bool(self.flags & FLAG_FLAGS)


def decode_pages(desc: bytes | memoryview) -> PageNote:
    """Validate a pages note's header and sizes (arrays stay undecoded until asked for).

    Raises:
        PageNoteError: bad magic/version, or sizes that do not fit the note.
    """
    if len(desc) < _PAGES_V1.size:
        raise PageNoteError("pages note too short")
    magic, version = struct.unpack_from("<4sH", desc)
    if magic != PAGES_MAGIC or version not in (1, VERSION):
        raise PageNoteError(f"pages note magic {magic!r} version {version} not understood")
    nruns: int | None
    if version == 1:
        _, _, flags, page_size, _, start, npages, nnz = _PAGES_V1.unpack_from(desc)
        listed, nruns, header = npages, None, _PAGES_V1.size
    else:
        if len(desc) < _PAGES.size:
            raise PageNoteError("pages note too short")
        _, _, flags, page_size, _, start, npages, listed, nnz, nruns = _PAGES.unpack_from(desc)
        header = _PAGES.size
    if page_size == 0 or page_size & (page_size - 1):
        raise PageNoteError(f"page size {page_size} is not a power of two")
    if listed > npages or nnz > listed:
        raise PageNoteError(f"{nnz} entries of {listed} listed pages do not fit {npages} pages")
    note = PageNote(start, page_size, npages, listed, flags, nnz, nruns, header, desc)
    if len(desc) != header + 8 * (nnz * note.columns + 2 * (nruns or 0)):
        raise PageNoteError(f"{nnz} entries and {nruns or 0} runs do not fit a "
                            f"{len(desc)}-byte note")  # fmt: skip
    return note


def saved_segments(note: PageNote, end: int, in_file: int, offset: int,
                   backing: Backing) -> list[Segment] | None:  # fmt: skip
    """The segments of a region ``[note.start, end)`` whose PT_LOAD holds ``in_file`` bytes at
    ``offset``: its saved runs backed by the file, the rest mapped but not saved.

    ``None`` for a version-1 note (the caller keeps the PT_LOAD as it is).

    Raises:
        PageNoteError: the runs are malformed.
    """
    runs = note.saved_runs()
    if runs is None:
        return None
    out: list[Segment] = []
    at = note.start
    for first, count in runs:
        lo = note.start + first * note.page_size
        hi = min(lo + count * note.page_size, end, note.start + in_file)
        if hi <= lo:
            break
        if lo > at:
            out.append(Segment(at, lo, None))
        out.append(Segment(lo, hi, backing, offset + (lo - note.start)))
        at = hi
    if at < end:
        out.append(Segment(at, end, None))
    return out

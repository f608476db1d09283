"""The MEMLENS notes of a ``memlens snapshot`` core: per-page pagemap state.

gdb and readelf skip notes whose owner they do not know, so the page state of
a live process travels inside a standard core.  Everything here is
little-endian whatever the core's byte order, and versioned:

* ``(MEMLENS, NT_MEMLENS_INFO)``: ``"MLSI"``, u16 version, u16 reserved, then a
  UTF-8 JSON object: ``memlens_version``, ``pid``, ``time``, ``unavailable``
  (region start in decimal -> {"pfn"/"count"/"flags"/"pagemap": why it is
  missing}), ``registers`` (saved, or why not), ``names`` (region start ->
  name, for the non-file regions NT_FILE does not name).
* ``(MEMLENS, NT_MEMLENS_PAGES)``, one per region: header ``"MLPT"``, u16
  version, u16 flags, u32 page size, u32 reserved, u64 region start, u64 page
  count, u64 ``n`` = pages with a non-zero pagemap entry; then ``n`` u64 page
  indexes (ascending), ``n`` u64 entries, and when flagged ``n`` u64
  kpagecounts and ``n`` u64 kpageflags.  Storing only non-zero entries keeps
  sparse regions (most of a big heap reservation) to a few bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from memlens.core.pages import PageTable

OWNER = "MEMLENS"
NT_MEMLENS_INFO = 0x4D4C5301  # "ML" S 1: high values no other tool (BFD) reads as its own
NT_MEMLENS_PAGES = 0x4D4C5302
VERSION = 1
INFO_MAGIC = b"MLSI"
PAGES_MAGIC = b"MLPT"
FLAG_COUNTS = 1
FLAG_FLAGS = 2
FLAG_PARTIAL = 4

_INFO = struct.Struct("<4sHH")
_PAGES = struct.Struct("<4sHHIIQQQ")

#: regions with more pages than this get a table that stops after the last non-zero entry
#: (a partial table), so memory stays bounded by the note's size
MAX_TABLE_PAGES = 1 << 20
#: ... and past that many pages a table is expanded only while it is this dense (1 in N)
MAX_SPREAD = 512


class PageNoteError(ValueError):
    """A MEMLENS note is malformed (the reader turns it into a warning)."""


def encode_info(info: dict[str, Any]) -> bytes:
    return _INFO.pack(INFO_MAGIC, VERSION, 0) + json.dumps(info, sort_keys=True).encode()


def decode_info(desc: bytes | memoryview) -> dict[str, Any]:
    if len(desc) < _INFO.size:
        raise PageNoteError("info note too short")
    magic, version, _ = _INFO.unpack_from(desc)
    if magic != INFO_MAGIC or version != VERSION:
        raise PageNoteError(f"info note magic {magic!r} version {version} not understood")
    try:
        info = json.loads(bytes(desc[_INFO.size :]).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PageNoteError(f"info note JSON: {e}") from None
    if not isinstance(info, dict):
        raise PageNoteError("info note is not a JSON object")
    return info


def encode_pages(table: PageTable) -> bytes:
    entries = np.asarray(table.entries, dtype="<u8")
    index = np.flatnonzero(entries).astype("<u8")
    flags = (
        (FLAG_COUNTS if table.counts is not None else 0)
        | (FLAG_FLAGS if table.flags is not None else 0)
        | (FLAG_PARTIAL if table.partial else 0)
    )
    head = _PAGES.pack(PAGES_MAGIC, VERSION, flags, table.page_size, 0, table.start,
                       len(entries), len(index))  # fmt: skip
    parts = [
        head,
        index.tobytes(),
        entries[index].tobytes(),
    ]
    if table.counts is not None:
        parts.append(np.asarray(table.counts, dtype="<u8")[index].tobytes())
    if table.flags is not None:
        parts.append(np.asarray(table.flags, dtype="<u8")[index].tobytes())
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class PageNote:
    """One region's note, decoded lazily into a :class:`PageTable`."""

    start: int
    page_size: int
    npages: int
    flags: int
    desc: bytes | memoryview  # a view of the mapped core: decoded only when asked for

    def table(self, unavailable: dict[str, str]) -> PageTable:
        n = (len(self.desc) - _PAGES.size) // 8 // self.columns
        arrays = np.frombuffer(self.desc, dtype="<u8", offset=_PAGES.size, count=n * self.columns)
        cols = arrays.reshape(self.columns, n)
        index = cols[0]
        if n and (int(index.max()) >= self.npages):
            raise PageNoteError(f"page index past the region's {self.npages} pages")

        size = self.npages
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

    @property
    def columns(self) -> int:
        return 2 + bool(self.flags & FLAG_COUNTS) + bool(self.flags & FLAG_FLAGS)


def decode_pages(desc: bytes | memoryview) -> PageNote:
    """Validate a pages note's header and sizes (arrays stay undecoded until asked for).

    Raises:
        PageNoteError: bad magic/version, or sizes that do not fit the note.
    """
    if len(desc) < _PAGES.size:
        raise PageNoteError("pages note too short")
    magic, version, flags, page_size, _, start, npages, nnz = _PAGES.unpack_from(desc)
    if magic != PAGES_MAGIC or version != VERSION:
        raise PageNoteError(f"pages note magic {magic!r} version {version} not understood")
    if page_size == 0 or page_size & (page_size - 1):
        raise PageNoteError(f"page size {page_size} is not a power of two")
    note = PageNote(start, page_size, npages, flags, desc)
    if nnz > npages or len(desc) != _PAGES.size + 8 * nnz * note.columns:
        raise PageNoteError(f"{nnz} entries do not fit a {len(desc)}-byte note")
    return note

"""A SymCache (format version 9) read as numpy arrays: a batch of lookups in one searchsorted.

symbolic's C entry point answers one address per call; from Python, 100k
calls and the unpacking of their results were three quarters of
``memlens symbolize``.  The SymCache is a flat little-endian file, so its
tables map straight onto numpy arrays:

* an 8-byte preamble (``SYMC``, version), a 72-byte header (32-byte debug id,
  arch, then the counts of files, functions, source locations, ranges and
  string bytes);
* then, each starting on an 8-byte boundary: files (6 u32: comp dir,
  directory, name and three source-server strings), functions (4 u32: name,
  comp dir, entry pc, language), source locations (4 u32: file, line,
  function, the location it is inlined into), ranges (u32 start addresses,
  sorted) and the strings (each a LEB128 length, then UTF-8 bytes).

Range ``i`` covers ``[ranges[i], ranges[i + 1])`` and belongs to source location
``num_source_locations - num_ranges + i``; a location of all ones ends the
code before it.  Following ``inlined_into`` gives the inline chain, innermost
first.  u32 all-ones means "none" everywhere.

File paths are not joined here: symbolic joins and cleans a file's directory
parts its own way, so each file's path is taken from one symbolic lookup of an
address that uses it (``path_of``), once per file.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
NONE32 = 0xFFFFFFFF
_HEADER = 8 + 72
VERSION = 9


def _align8(n: int) -> int:
    return (n + 7) & ~7


def dense_unique(values: I64, size: int) -> tuple[I64, I64]:
    """``np.unique(values, return_inverse=True)`` for values in ``[-1, size)``, without
    sorting (a mark per possible value: linear, where sorting 10^6 indices is not)."""
    seen = np.zeros(size + 1, bool)
    seen[values + 1] = True
    uniq = np.flatnonzero(seen) - 1
    slot = np.zeros(size + 1, np.int64)
    slot[uniq + 1] = np.arange(len(uniq))
    return uniq, slot[values + 1]


class SymCacheIndex:
    """The tables of one SymCache, over its bytes (kept alive, never copied).

    Raises:
        ValueError: not a version-9 SymCache, or its tables run past its end.
    """

    def __init__(self, data: bytes | memoryview) -> None:
        self._bytes = data
        buf = np.frombuffer(data, np.uint8)
        if len(buf) < _HEADER or bytes(buf[:4]) != b"SYMC":
            raise ValueError("not a SymCache")
        head = buf[:_HEADER].view("<u4")
        if int(head[1]) != VERSION:
            raise ValueError(f"SymCache version {int(head[1])}, not {VERSION}")
        nfiles, nfuncs, nlocs, nranges, nstr = (int(x) for x in head[11:16])
        if nranges > nlocs:
            raise ValueError("more ranges than source locations")
        at = _HEADER

        def table(count: int, width: int) -> U32:
            nonlocal at
            at = _align8(at)
            end = at + count * width * 4
            if end > len(buf):
                raise ValueError("SymCache truncated")
            out = buf[at:end].view("<u4").reshape(count, width) if count else \
                np.zeros((0, width), "<u4")  # fmt: skip
            at = end
            return out

        self.files = table(nfiles, 6)
        functions = table(nfuncs, 4)
        locations = table(nlocs, 4)
        self.ranges = table(nranges, 1).reshape(-1)
        at = _align8(at)
        if at + nstr > len(buf):
            raise ValueError("SymCache strings truncated")
        self._strings = buf[at : at + nstr].tobytes()
        self.function_name = functions[:, 0]
        self.entry_pc = functions[:, 2]
        self.file = locations[:, 0]
        self.line = locations[:, 1]
        self.function = locations[:, 2]
        self.inlined_into = locations[:, 3]
        self._first = nlocs - nranges
        self._names: dict[int, str] = {}

    def innermost(self, relative: npt.NDArray[np.uint64]) -> I64:
        """The innermost source location of each address (relative to the image base),
        -1 where the SymCache has none (before the first range, in a gap, >= 2**32)."""
        a = np.asarray(relative, np.uint64)
        idx = np.searchsorted(self.ranges, a, side="right").astype(np.int64) - 1
        ok = (idx >= 0) & (a < np.uint64(1 << 32))
        loc = np.where(ok, idx + self._first, -1)
        hit = np.flatnonzero(ok)
        s = loc[hit]
        gap = ((self.file[s] == NONE32) & (self.line[s] == NONE32)
               & (self.function[s] == NONE32) & (self.inlined_into[s] == NONE32))  # fmt: skip
        loc[hit[gap]] = -1
        return loc

    def chains(self, locations: I64) -> tuple[I64, I64]:
        """The inline chain of each location: a matrix of location indices, one row per
        location, innermost first and -1 past its end, and each row's length."""
        n = len(self.file)
        levels = [locations]
        cur = locations
        for _ in range(255):  # symbolic stops at this depth too
            live = np.flatnonzero(cur >= 0)
            if not len(live):
                break
            nxt = np.full(len(cur), -1, np.int64)
            up = self.inlined_into[cur[live]].astype(np.int64)
            nxt[live] = np.where(up < n, up, -1)
            levels.append(nxt)
            cur = nxt
        matrix = np.stack(levels, 1)
        return matrix, (matrix >= 0).sum(1)

    def function_name_of(self, function: int) -> str:
        """A function's (mangled) name; ``?`` when it has none, as symbolic answers."""
        got = self._names.get(function)
        if got is None:  # one decode per function per file
            got = self._names[function] = self._string(function)
        return got

    def _string(self, function: int) -> str:
        if not 0 <= function < len(self.function_name):
            return "?"
        at = int(self.function_name[function])
        data = self._strings
        length = shift = 0
        while True:  # LEB128
            if at >= len(data) or shift > 28:
                return "?"
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if at + length > len(data):
            return "?"
        return data[at : at + length].decode("utf-8", "replace")


#: looks up one address with symbolic itself: its levels' paths, innermost first
PathProbe = Callable[[int], list[str | None]]

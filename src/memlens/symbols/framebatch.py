"""The answer to one batch of addresses, in columns: frames are built only when asked for.

The symbolizer resolves the distinct addresses of a batch in numpy (module,
symbol, offset) and decodes each distinct symbol's name once.  A
:class:`FrameBatch` keeps those columns; ``batch[i]`` builds (and keeps) the
frame of one address, ``batch.frames()`` all of them -- each distinct address's
frame once, shared by its repeats.  Callers that only need names or module
offsets for many addresses read the columns and never pay for 100k objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt

from memlens.symbols.frame import Frame, make_frames, new_frame

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Obj = npt.NDArray[np.object_]
Bools = npt.NDArray[np.bool_]
Level = tuple[str | None, int | None, str | None, int | None]  # function, offset, file, line


class Callers(NamedTuple):
    """The inline callers of one address, not yet built as frames (most answers are
    printed, not kept: 100k addresses have ~90k callers)."""

    address: int
    module: str | None
    module_offset: int | None
    levels: tuple[Level, ...]

    def frames(self) -> tuple[Frame, ...]:
        a, m, o = self.address, self.module, self.module_offset
        return tuple(new_frame(a, m, o, f, off, file, line) for f, off, file, line in self.levels)


#: row -> (file, line, inlined_by) for the rows DWARF located
Located = dict[int, tuple[str | None, int | None, "tuple[Frame, ...] | Callers"]]


def callers_of(inl: tuple[Frame, ...] | Callers) -> tuple[Frame, ...]:
    """Inline callers as frames, whichever form they are kept in."""
    return inl.frames() if isinstance(inl, Callers) else inl


class FrameBatch(Sequence[Frame]):
    """Frames of ``addresses`` (same order), stored per distinct address.

    Attributes:
        addresses: the addresses, as asked (uint64).
        unique: the distinct addresses, sorted; ``inverse`` maps each address to its row.
        module: per row, the index of its module in ``paths``/``bases`` (-1: none).
        function: per row, the function name or ``None`` (object column).
        function_offset: per row, the offset into the function where ``has_offset``.
        located: rows with file:line (and inline frames) from DWARF:
            row -> (file, line, inlined_by).
    """

    def __init__(
        self,
        addresses: U64,
        unique: U64,
        inverse: I64,
        *,
        paths: Sequence[str],
        bases: U64,
        module: I64,
        function: Obj,
        function_offset: I64,
        has_offset: Bools,
        located: Located,
        notes: dict[int, str] | None = None,
    ) -> None:
        self.addresses = addresses
        self.unique = unique
        self.inverse = inverse
        self.paths = list(paths)
        self.bases = bases
        self.module = module
        self.function = function
        self.function_offset = function_offset
        self.has_offset = has_offset
        self.located = located
        self.notes = notes or {}
        self._rows: dict[int, Frame] = {}
        self._all: list[Frame] | None = None

    def __len__(self) -> int:
        return len(self.addresses)

    def row(self, r: int) -> Frame:
        """The frame of distinct address ``r``."""
        f = self._rows.get(r)
        if f is None:
            address, k = int(self.unique[r]), int(self.module[r])
            file, line, inl = self.located.get(r, (None, None, ()))
            f = self._rows[r] = Frame(
                address, self.paths[k] if k >= 0 else None,
                address - int(self.bases[k]) if k >= 0 else None, self.function[r],
                int(self.function_offset[r]) if self.has_offset[r] else None, file, line,
                callers_of(inl),
                self.notes.get(r),
            )  # fmt: skip
        return f

    @overload
    def __getitem__(self, i: int) -> Frame: ...
    @overload
    def __getitem__(self, i: slice) -> list[Frame]: ...
    def __getitem__(self, i: int | slice) -> Frame | list[Frame]:
        if isinstance(i, slice):
            return [self.row(int(r)) for r in self.inverse[i]]
        return self.row(int(self.inverse[i]))

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames())

    def frames(self) -> list[Frame]:
        """Every frame, in address order as asked (repeats share one frame object)."""
        if self._all is None:
            n, total = len(self.unique), len(self.addresses)
            if n == total:
                # no repeats: build straight in the caller's order (columns are cheap to
                # reorder, 100k objects are not)
                where = np.empty(n, np.int64)
                where[self.inverse] = np.arange(n)
                self._all = self._build(self.inverse, where.tolist())
            else:
                rows = self._build(np.arange(n), list(range(n)))
                column = np.empty(n, object)
                column[:] = rows
                self._all = column[self.inverse].tolist()
        return self._all

    def _build(self, take: I64, where: list[int]) -> list[Frame]:
        """Frames of rows ``take`` (in that order); row ``r`` is at position ``where[r]``."""
        n = len(take)
        files: list[str | None] = [None] * n
        lines: list[int | None] = [None] * n
        inl: list[tuple[Frame, ...]] = [()] * n
        for r, (file, line, chain) in self.located.items():
            j = where[r]
            files[j], lines[j], inl[j] = file, line, callers_of(chain)
        module = self.module[take]
        addr = self.unique[take]
        paths = np.empty(len(self.paths) + 1, object)  # index -1: no module
        paths[: len(self.paths)] = self.paths
        bases = np.concatenate((self.bases, np.zeros(1, np.uint64)))
        mod_off = _with_none(addr - bases[module], module < 0)
        off = _with_none(self.function_offset[take], ~self.has_offset[take])
        notes: list[str | None] | None = None
        if self.notes:
            notes = [None] * n
            for r, text in self.notes.items():
                notes[where[r]] = text
        return make_frames(addr.tolist(), paths[module].tolist(), mod_off,
                           self.function[take].tolist(), off, files, lines, inl,
                           notes)  # fmt: skip


def _with_none(values: npt.NDArray[np.integer], missing: Bools) -> list[int | None]:
    """``values`` as Python ints, ``None`` where ``missing``."""
    if not missing.any():
        return values.tolist()  # type: ignore[no-any-return]
    column = values.astype(object)
    column[missing] = None
    return column.tolist()  # type: ignore[no-any-return]


def as_addresses(addresses: Sequence[int] | npt.NDArray[np.integer]) -> U64:
    """``addresses`` as uint64, wrapping negative values as the target's arithmetic does."""
    if isinstance(addresses, np.ndarray):
        return addresses.astype(np.uint64, copy=False)
    try:
        return np.array(addresses, np.uint64)
    except (OverflowError, TypeError, ValueError):
        mask = (1 << 64) - 1
        return np.array([int(a) & mask for a in addresses], np.uint64)

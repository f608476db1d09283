"""A symbol table as numpy arrays: batch lookups by ``searchsorted``.

Every symbol source (ELF ``.symtab``/``.dynsym``, ``nm`` text, GNU ld map
files) produces a :class:`SymbolTable`.  Addresses are the file's own
(link-time) virtual addresses; the module map adds the load bias.

Lookups only answer from symbols whose size is known: an address inside
``[address, address + size)`` gets the name and the offset; a symbol of
unknown (or zero) size matches only its own address.  Aliases (several names
at one address) resolve to one name by binding (global, weak, local), then by
type (function first) -- every name stays available for listing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

# kinds (ELF st_type where it maps)
KIND_OTHER, KIND_OBJECT, KIND_FUNC = 0, 1, 2
KIND_NAMES = {KIND_OTHER: "other", KIND_OBJECT: "object", KIND_FUNC: "function"}
#: a gap between two symbols shorter than this is alignment padding (x86-64 code is
#: aligned to at most 64 bytes by GCC and glibc's string functions)
PADDING_LIMIT = 64
_MAX = (1 << 64) - 1
# binding preference for aliases: larger wins
BIND_LOCAL, BIND_WEAK, BIND_GLOBAL = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Symbol:
    """One named address.  ``size`` is ``None`` when the source does not say."""

    name: str
    address: int
    size: int | None
    kind: str = "other"
    type_letter: str | None = None  # nm's letter (T, t, D, W...) when known
    line: str | None = None  # the source line (nm text) it came from

    @property
    def end(self) -> int:
        return self.address + (self.size or 0)


class SymbolTable:
    """Symbols of one file, sorted by address.

    Args:
        addresses, sizes: per symbol; ``sizes`` 0 where ``size_known`` is false.
        names: a sequence of names, or a function from index to name (lazy
            decoding of big string tables).
        kinds, binds: per symbol, ``KIND_*`` and ``BIND_*`` codes.
        size_known: per symbol; defaults to ``sizes > 0``.
        lookup_mask: symbols that may answer address lookups (default all).
        letters, lines: optional nm type letters / original text lines.
        tiebreak: per symbol, larger wins among equally ranked aliases.
        run_on: per symbol, where a size-less function may run on to (ELF: the end
            of its section); it then answers up to the next symbol or that limit,
            whichever is first -- GCC's crtstuff code such as ``deregister_tm_clones``
            has no size, and llvm-symbolizer and addr2line do the same.  ``None``: a
            size-less symbol answers only at its own address.
    """

    def __init__(
        self,
        addresses: U64,
        sizes: U64,
        names: Sequence[str] | Callable[[int], str],
        *,
        kinds: npt.NDArray[np.uint8] | None = None,
        binds: npt.NDArray[np.uint8] | None = None,
        size_known: npt.NDArray[np.bool_] | None = None,
        lookup_mask: npt.NDArray[np.bool_] | None = None,
        letters: Sequence[str | None] | None = None,
        lines: Sequence[str | None] | None = None,
        tiebreak: npt.NDArray[np.int64] | None = None,
        source: str = "",
        run_on: U64 | None = None,
    ) -> None:
        n = len(addresses)
        self.source = source
        kinds = kinds if kinds is not None else np.zeros(n, np.uint8)
        binds = binds if binds is not None else np.full(n, BIND_GLOBAL, np.uint8)
        known = size_known if size_known is not None else sizes > 0
        # sort by address, then best alias first (binding, function-ness, size)
        prio = binds.astype(np.int64) * 4 + (kinds == KIND_FUNC)
        tie = tiebreak if tiebreak is not None else np.zeros(n, np.int64)
        order = np.lexsort((-tie, -sizes.astype(np.float64), -prio, addresses))
        self.addresses: U64 = np.ascontiguousarray(addresses[order], dtype=np.uint64)
        self.sizes: U64 = np.ascontiguousarray(sizes[order], dtype=np.uint64)
        self.kinds = kinds[order]
        self.binds = binds[order]
        self.size_known = known[order]
        self._order = order
        self._names = names
        self._letters = letters
        self._lines = lines
        self._by_name: dict[str, int] | None = None
        self._shown: dict[object, tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]] = {}
        mask = (lookup_mask if lookup_mask is not None else np.ones(n, bool))[order]
        #: symbols that name a place (not absolute values such as version nodes)
        self.addressable = mask
        # the lookup index: one symbol per address (the first = best alias)
        cand = np.flatnonzero(mask)
        first = np.ones(len(cand), bool)
        if len(cand):
            first[1:] = self.addresses[cand[1:]] != self.addresses[cand[:-1]]
        self._lk = cand[first]
        self._lk_start = self.addresses[self._lk]
        lk_size = np.where(self.size_known[self._lk], self.sizes[self._lk], np.uint64(1))
        self._lk_end = self._lk_start + np.maximum(lk_size, np.uint64(1))
        if run_on is not None and len(self._lk):
            nxt = np.append(self._lk_start[1:], self._lk_start[-1] + np.uint64(1))
            limit = np.minimum(nxt, run_on[order][self._lk])
            sizeless = ~self.size_known[self._lk] & (self.kinds[self._lk] == KIND_FUNC)
            self._lk_end = np.where(sizeless, np.maximum(limit, self._lk_end), self._lk_end)
        # running maximum of ends: tells whether an earlier symbol can contain an address
        self._lk_maxend = np.maximum.accumulate(self._lk_end) if len(self._lk) else self._lk_end

    def __len__(self) -> int:
        return len(self.addresses)

    def name(self, i: int) -> str:
        """Name of the symbol at sorted position ``i``."""
        j = int(self._order[i])
        return self._names(j) if callable(self._names) else self._names[j]

    def names_at(self, positions: I64, show: Callable[[str], str] | None = None,
                 ) -> npt.NDArray[np.object_]:  # fmt: skip
        """Names at sorted ``positions`` as an object array, through ``show`` (e.g. a
        demangler); each symbol's name is decoded and shown once per table."""
        got = self._shown.get(show)
        if got is None:
            got = self._shown[show] = (np.full(len(self), None, object), np.zeros(len(self), bool))
        cache, done = got
        need = positions[~done[positions]]
        if len(need):
            need = np.sort(need)  # distinct, without np.unique (it imports numpy.ma)
            want = need[np.concatenate(([True], need[1:] != need[:-1]))]
            names = [self.name(i) for i in want.tolist()]
            column = np.empty(len(want), object)
            column[:] = [show(x) for x in names] if show is not None else names
            cache[want] = column
            done[want] = True
        return cache[positions]

    def symbol(self, i: int) -> Symbol:
        j = int(self._order[i])
        return Symbol(
            self.name(i), int(self.addresses[i]),
            int(self.sizes[i]) if self.size_known[i] else None,
            KIND_NAMES.get(int(self.kinds[i]), "other"),
            self._letters[j] if self._letters is not None else None,
            self._lines[j] if self._lines is not None else None,
        )  # fmt: skip

    def __iter__(self) -> Iterator[Symbol]:
        for i in range(len(self)):
            yield self.symbol(i)

    def lookup(self, addresses: npt.ArrayLike) -> tuple[I64, U64]:
        """Sorted positions of the symbols containing ``addresses`` (-1 where none) and
        the offsets into them (0 where none)."""
        a = np.asarray(addresses, dtype=np.uint64)
        if not len(self._lk):
            return np.full(len(a), -1, np.int64), np.zeros(len(a), np.uint64)
        i = np.searchsorted(self._lk_start, a, side="right").astype(np.int64) - 1
        valid = i >= 0
        ic = np.where(valid, i, 0)
        hit = valid & (a < self._lk_end[ic])
        # nested symbols: the nearest start does not contain the address but an
        # earlier, longer symbol might (rare: walk back only where possible)
        retry = np.flatnonzero(valid & ~hit & (a < self._lk_maxend[ic]))
        for k in retry:
            j = int(i[k]) - 1
            addr = a[k]
            while j >= 0 and self._lk_maxend[j] > addr:
                if self._lk_start[j] <= addr < self._lk_end[j]:
                    i[k] = j
                    hit[k] = True
                    break
                j -= 1
        pos = np.where(hit, self._lk[np.where(hit, i, 0)], -1).astype(np.int64)
        off = np.where(hit, a - self.addresses[np.where(hit, pos, 0)], np.uint64(0))
        return pos, off.astype(np.uint64)

    def padding(self, addresses: npt.ArrayLike, *, limit: int = PADDING_LIMIT,
                ) -> tuple[I64, U64]:  # fmt: skip
        """For addresses in no symbol: the sorted position of the symbol they pad (the
        nearest one ending at or before them, when the next symbol starts less than
        ``limit`` bytes after its end) and that symbol's end; -1 and 0 elsewhere."""
        a = np.asarray(addresses, dtype=np.uint64)
        none = np.full(len(a), -1, np.int64), np.zeros(len(a), np.uint64)
        if not len(self._lk):
            return none
        i = np.searchsorted(self._lk_start, a, side="right").astype(np.int64) - 1
        ic = np.maximum(i, 0)
        end = self._lk_maxend[ic]
        nxt = np.append(self._lk_start, np.uint64(_MAX))[ic + 1]
        gap = (nxt - np.minimum(end, nxt)).astype(np.uint64)
        ok = (i >= 0) & (a >= end) & (a < nxt) & (gap < np.uint64(limit))
        ok &= self._lk_end[ic] == end  # the symbol before is the one that ends last
        ok &= self.size_known[self._lk[ic]]  # a size-less one has no known end to pad
        pos = np.where(ok, self._lk[ic], -1).astype(np.int64)
        return pos, np.where(ok, end, np.uint64(0)).astype(np.uint64)

    def address_of(self, name: str) -> int | None:
        """Address of the symbol called ``name`` (the best of several with that name)."""
        i = self.index_of(name)
        return None if i is None else int(self.addresses[i])

    def find(self, name: str) -> Symbol | None:
        """The symbol called ``name``, or ``None``."""
        i = self.index_of(name)
        return None if i is None else self.symbol(i)

    def index_of(self, name: str) -> int | None:
        if self._by_name is None:
            by: dict[str, int] = {}
            binds = self.binds.tolist()
            for i in range(len(self)):
                # a global wins over a static of the same name in another file
                old = by.setdefault(self.name(i), i)
                if binds[i] > binds[old]:
                    by[self.name(i)] = i
            self._by_name = by
        return self._by_name.get(name)

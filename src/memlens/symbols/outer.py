"""The outermost function of a DWARF answer, named for people with the symbol table's help.

DWARF says which function (``DW_TAG_subprogram``) contains an address and
where the piece of it (its range) starts; it calls the function by its
linkage name, which for glibc's hidden functions is the internal alias
(``__GI___gconv_open``).  The symbol table says which piece it is
(``f.cold``, ``f.isra.0``) and which public aliases share its address.  So:

* when a symbol of known size contains both the address and the start of
  its DWARF range, that symbol is the function (or its piece): its best-ranked
  alias names it (``confstr``, not ``__GI_confstr``; the full C++ name, where
  SymCache without symbols keeps only DWARF's unqualified ``DW_AT_name``);
* else the name is DWARF's, or the best alias at the range start when one of
  the symbols there has the same public name (see :func:`naming.public`);
* fragment tags (``[cold]``) come from the symbol that contains the address,
  when that symbol is a piece of this function;
* the offset is from the start of that symbol, else from the start of the range.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from memlens.symbols.naming import public, shown, split_fragment, split_version, with_tags
from memlens.symbols.symtable import SymbolTable


class OuterNames:
    """Names outermost DWARF functions of one module.

    Args:
        table: the module's ELF symbol table (``None``: DWARF names as they are).
        image_base: the file's image base (SymCache addresses are relative to it).
    """

    def __init__(self, table: SymbolTable | None, image_base: int) -> None:
        self.table = table if table is not None and len(table) else None
        self.image_base = image_base
        self._alias: dict[tuple[str, int], str | None] = {}
        self._known: dict[tuple[str, int, int], tuple[str, bool]] = {}

    def _alias_at(self, name: str, start: int, lo: int, hi: int) -> str | None:
        """The best symbol at ``start`` (sorted positions ``lo:hi``) that is ``name`` or
        an alias of it, else None."""
        key = (name, start)
        if key in self._alias:
            return self._alias[key]
        t = self.table
        best: str | None = None
        if t is not None:
            group = [t.name(i) for i in range(lo, hi) if t.addressable[i]]
            pub = public(name)
            if any(public(g) == pub for g in group):
                # the first (best-ranked) name, unless it is a piece of another function
                best = next((g for g in group if not split_fragment(split_version(g))[1]
                             or public(g) == pub), None)  # fmt: skip
        self._alias[key] = best
        return best

    def names(self, functions: Sequence[str], starts: Sequence[int], addresses: Sequence[int],
              ) -> tuple[list[str], list[int]]:  # fmt: skip
        """Per address (all relative to the image base): the shown name and the offset of
        the outermost function ``functions[i]`` whose range starts at ``starts[i]``.

        Each distinct (function, range start, containing symbol) is named once; the
        100k addresses of a batch are grouped by that key in numpy."""
        t = self.table
        if t is None:
            return ([shown(f) for f in functions],
                    [a - s for s, a in zip(starts, addresses, strict=True)])  # fmt: skip
        n = len(addresses)
        if not n:
            return [], []
        addr = np.array(addresses, np.int64)
        start = np.array(starts, np.int64)
        pos, off = t.lookup(addr.astype(np.uint64) + np.uint64(self.image_base))
        # the key (range start, symbol) as one integer; names are checked to agree below
        key = start * (len(t) + 1) + (pos + 1)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        head = np.concatenate(([True], ks[1:] != ks[:-1]))
        group = np.cumsum(head) - 1
        inverse = np.empty(n, np.int64)
        inverse[order] = group
        first = order[head]  # one address of each group
        funcs = np.empty(n, object)
        funcs[:] = functions
        if bool((funcs != funcs[first][inverse]).any()):  # two functions at one start
            return self._names_each(functions, starts, addresses, pos, off)
        sym_start = (addr - off.astype(np.int64))[first]
        lo = np.searchsorted(t.addresses, start[first].astype(np.uint64) + np.uint64(
            self.image_base), "left").tolist()  # fmt: skip
        hi = np.searchsorted(t.addresses, start[first].astype(np.uint64) + np.uint64(
            self.image_base), "right").tolist()  # fmt: skip
        got = [self._cached(f, s, p, ss, a, b) for f, s, p, ss, a, b in zip(
            funcs[first].tolist(), start[first].tolist(), pos[first].tolist(),
            sym_start.tolist(), lo, hi, strict=True)]  # fmt: skip
        shown_names = np.empty(len(got), object)
        shown_names[:] = [g[0] for g in got]
        from_symbol = np.array([g[1] for g in got], bool)[inverse]
        offsets = np.where(from_symbol, off.astype(np.int64), addr - start)
        return shown_names[inverse].tolist(), offsets.tolist()

    def _names_each(self, functions: Sequence[str], starts: Sequence[int],
                    addresses: Sequence[int], pos: npt.NDArray[np.int64],
                    off: npt.NDArray[np.uint64]) -> tuple[list[str], list[int]]:  # fmt: skip
        """:meth:`names` one address at a time (two functions share a range start)."""
        t = self.table
        assert t is not None
        base = np.uint64(self.image_base)
        names: list[str] = []
        offsets: list[int] = []
        for f, s, a, p, o in zip(functions, starts, addresses, pos.tolist(), off.tolist(),
                                 strict=True):  # fmt: skip
            at = np.uint64(s) + base
            lo = int(np.searchsorted(t.addresses, at, "left"))
            hi = int(np.searchsorted(t.addresses, at, "right"))
            name, from_symbol = self._cached(f, s, p, a - o, lo, hi)
            names.append(name)
            offsets.append(o if from_symbol else a - s)
        return names, offsets

    def _cached(self, f: str, s: int, p: int, sym_start: int, lo: int, hi: int,
                ) -> tuple[str, bool]:  # fmt: skip
        got = self._known.get((f, s, p))
        if got is None:
            got = self._known[(f, s, p)] = self._name(f, s, p, sym_start, lo, hi)
        return got

    def _name(self, f: str, s: int, p: int, sym_start: int, lo: int, hi: int,
              ) -> tuple[str, bool]:  # fmt: skip
        """The shown name of function ``f`` whose range starts at ``s``, for addresses in
        symbol ``p`` (starting at ``sym_start``; -1: none), and whether offsets count
        from that symbol (else from the range start)."""
        t = self.table
        assert t is not None
        base = self.image_base
        alias = self._alias_at(f, s + base, lo, hi)
        name, from_symbol = alias or f, False
        tags: tuple[str, ...] = ()
        if p >= 0:
            inside = t.name(p)
            first = sym_start + base
            if bool(t.size_known[p]) and first <= s + base < first + int(t.sizes[p]):
                name, from_symbol = inside, True
                tags = split_fragment(split_version(inside))[1]
            elif public(inside) in (public(f), public(name)):
                tags = split_fragment(split_version(inside))[1]
                from_symbol = True
                if alias is None:
                    name = inside
        plain = split_fragment(split_version(name))[0]
        return with_tags(shown(plain), tags), from_symbol

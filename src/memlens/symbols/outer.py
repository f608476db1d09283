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

    def _alias_at(self, name: str, start: int) -> str | None:
        """The best symbol at ``start`` that is ``name`` or an alias of it, else None."""
        key = (name, start)
        if key in self._alias:
            return self._alias[key]
        t = self.table
        best: str | None = None
        if t is not None:
            lo = int(np.searchsorted(t.addresses, np.uint64(start), "left"))
            hi = int(np.searchsorted(t.addresses, np.uint64(start), "right"))
            group = [t.name(i) for i in range(lo, hi) if t.addressable[i]]
            pub = public(name)
            if any(public(g) == pub for g in group):
                # the first (best-ranked) name, unless it is a piece of another function
                best = next((g for g in group if not split_fragment(split_version(g))[1]
                             or public(g) == pub), None)  # fmt: skip
        self._alias[key] = best
        return best

    def names(self, functions: Sequence[str], starts: Sequence[int], addresses: Sequence[int],
              ) -> list[tuple[str, int]]:  # fmt: skip
        """Per address (all relative to the image base): ``(shown name, offset)`` of the
        outermost function ``functions[i]`` whose range starts at ``starts[i]``."""
        base = self.image_base
        t = self.table
        if t is None:
            return [(shown(f), a - s) for f, s, a in zip(functions, starts, addresses,
                                                          strict=True)]  # fmt: skip
        pos, off = t.lookup(np.array(addresses, np.uint64) + np.uint64(base))
        out: list[tuple[str, int]] = []
        known: dict[tuple[str, int, int], tuple[str, bool]] = self._known
        for f, s, a, p, o in zip(functions, starts, addresses, pos.tolist(), off.tolist(),
                                 strict=True):  # fmt: skip
            got = known.get((f, s, p))
            if got is None:
                got = known[(f, s, p)] = self._name(f, s, p, a - o)
            out.append((got[0], o if got[1] else a - s))
        return out

    def _name(self, f: str, s: int, p: int, sym_start: int) -> tuple[str, bool]:
        """The shown name of function ``f`` whose range starts at ``s``, for addresses in
        symbol ``p`` (starting at ``sym_start``; -1: none), and whether offsets count
        from that symbol (else from the range start)."""
        t = self.table
        assert t is not None
        base = self.image_base
        alias = self._alias_at(f, s + base)
        name, from_symbol = alias or f, False
        tags: tuple[str, ...] = ()
        if p >= 0:
            inside = t.name(p)
            lo = sym_start + base
            if bool(t.size_known[p]) and lo <= s + base < lo + int(t.sizes[p]):
                name, from_symbol = inside, True
                tags = split_fragment(split_version(inside))[1]
            elif public(inside) in (public(f), public(name)):
                tags = split_fragment(split_version(inside))[1]
                from_symbol = True
                if alias is None:
                    name = inside
        plain = split_fragment(split_version(name))[0]
        return with_tags(shown(plain), tags), from_symbol

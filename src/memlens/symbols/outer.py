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
from memlens.symbols.table import SymbolTable


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
        for f, s, a, p, o in zip(functions, starts, addresses, pos.tolist(), off.tolist(),
                                 strict=True):  # fmt: skip
            alias = self._alias_at(f, s + base)
            name, offset = alias or f, a - s
            tags: tuple[str, ...] = ()
            if p >= 0:
                inside = t.name(p)
                lo = a + base - o
                owns = bool(t.size_known[p]) and lo <= s + base < lo + int(t.sizes[p])
                if owns:
                    name, offset, alias = inside, o, inside
                    tags = split_fragment(split_version(inside))[1]
                elif public(inside) in (public(f), public(name)):
                    tags = split_fragment(split_version(inside))[1]
                    offset = o
                    if alias is None:
                        name = inside
            plain = split_fragment(split_version(name))[0]
            out.append((with_tags(shown(plain), tags), offset))
        return out

"""Symbol providers: one interface, ``lookup(addresses) -> Hits``, composed in a chain.

A provider answers for the addresses of one module, given as the file's own
(link-time) virtual addresses, in one batch.  The chain is data: a tuple of
names looked up in :data:`PROVIDERS`, tried in order; the first provider that
names an address wins, and a provider may add file:line to addresses it does
not name (a bare line table).  Built in:

* ``dwarf``  -- function, file:line and inline chain from DWARF (SymCache);
* ``symtab`` -- the ELF symbol table (of the separate debug file when there is one);
* ``nm``, ``ldmap`` -- tables the user gives (nm text, GNU ld map files);
* ``breakpad`` -- the slot for Breakpad ``.sym`` files: a module registers its
  factory with :func:`register_provider` (``memlens.symbols.breakpad_sym``) and
  callers put ``"breakpad"`` in their chain.

Adding a provider: write a class with ``lookup``, a factory taking a
:class:`Context` and returning it (or None when it has nothing for the module),
and register the factory under a name.  See ``docs/symbols.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from memlens.core.module import Module
from memlens.errors import UsageError
from memlens.symbols.framebatch import Callers, Level, Located
from memlens.symbols.modsyms import ModuleSymbols
from memlens.symbols.naming import shown
from memlens.symbols.symtable import SymbolTable

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Obj = npt.NDArray[np.object_]
Bools = npt.NDArray[np.bool_]


@dataclass
class Hits:
    """A provider's answer for ``n`` addresses (index ``i`` = the i-th address asked).

    ``found``: the addresses it names (``function``, and ``offset`` where
    ``has_offset``); ``located``: file:line and inline callers, also for
    addresses it does not name.
    """

    found: Bools
    function: Obj
    offset: I64
    has_offset: Bools
    located: Located = field(default_factory=dict)

    @classmethod
    def none(cls, n: int) -> Hits:
        return cls(np.zeros(n, bool), np.full(n, None, object), np.zeros(n, np.int64),
                   np.zeros(n, bool))  # fmt: skip


class SymbolProvider(Protocol):
    """Names addresses of one module (file virtual addresses), a batch at a time."""

    def lookup(self, addresses: U64) -> Hits: ...


@dataclass(frozen=True)
class Context:
    """What a factory may use: the module, its loaded sources, the user's table for it."""

    module: Module | None
    symbols: ModuleSymbols | None
    user_table: SymbolTable | None


ProviderFactory = Callable[[Context], "SymbolProvider | None"]


class TableProvider:
    """Names from a :class:`SymbolTable` (ELF symtab, nm text, linker map)."""

    def __init__(self, table: SymbolTable) -> None:
        self.table = table

    def lookup(self, addresses: U64) -> Hits:
        pos, off = self.table.lookup(addresses)
        hits = Hits.none(len(addresses))
        hits.found = pos >= 0
        hits.function[hits.found] = self.table.names_at(pos[hits.found], shown)
        hits.offset = off.astype(np.int64)
        hits.has_offset = hits.found.copy()
        return hits


class DwarfProvider:
    """Function, file:line and the inline chain from DWARF; the outermost function
    named with the symbol table's help (:mod:`memlens.symbols.outer`)."""

    def __init__(self, module: Module | None, symbols: ModuleSymbols) -> None:
        self.module = module
        self.symbols = symbols

    def lookup(self, addresses: U64) -> Hits:
        ms = self.symbols
        lt = ms.lines()
        n = len(addresses)
        hits = Hits.none(n)
        if lt is None:
            return hits
        module = self.module
        modname = module.path if module else None
        bias = (module.load_bias or 0) if module else 0
        base = module.base if module else 0
        rel = (addresses - np.uint64(ms.image_base)).astype(np.uint64).tolist()
        results = lt.lookup(rel)
        located = hits.located
        # rows DWARF names: the outermost level has a function; the others (a bare line
        # table) get file:line here and their name from the symbol table
        idx: list[int] = []
        for i, locs in enumerate(results):
            if locs:
                if locs[-1].function is not None:
                    idx.append(i)
                else:
                    located[i] = (locs[0].file, locs[0].line, ())
        outs = [results[i][-1] for i in idx]
        onames, ooffs = ms.outer().names(
            [o.function or "" for o in outs],
            [rel[i] if o.function_start is None else o.function_start
             for i, o in zip(idx, outs, strict=True)],
            [rel[i] for i in idx],
        )  # fmt: skip
        names: list[str | None] = [None] * n
        offsets = [0] * n
        has_off = [False] * n
        # the innermost name and the inline levels of each distinct chain; shown names
        shown_of: dict[str | None, str] = {}
        mids: dict[int, tuple[str | None, tuple[Level, ...]]] = {}
        shift = ms.image_base + bias
        make = tuple.__new__  # Callers(...) through its Python-level __new__ costs 3x
        for i, oname, ooff in zip(idx, onames, ooffs, strict=True):
            locs = results[i]
            top = locs[0]
            if len(locs) == 1:
                names[i], offsets[i], has_off[i] = oname, ooff, True
                located[i] = (top.file, top.line, ())
                continue
            got = mids.get(id(locs))  # results holds every chain: ids stay unique here
            if got is None:
                levels: list[Level] = []
                for loc in locs[:-1]:
                    name = shown_of.get(loc.function)
                    if name is None:
                        name = shown_of[loc.function] = shown(loc.function or "")
                    levels.append((name, None, loc.file, loc.line))
                got = mids[id(locs)] = (levels[0][0], tuple(levels[1:]))
            names[i], mid = got
            last = locs[-1]
            addr = (rel[i] + shift) & 0xFFFFFFFFFFFFFFFF
            located[i] = (top.file, top.line, make(Callers, (
                addr, modname, addr - base if module else None,
                (*mid, (oname, ooff, last.file, last.line)))))  # fmt: skip
        found = np.zeros(n, bool)
        found[idx] = True
        hits.found = found
        hits.function[:] = names
        hits.offset = np.array(offsets, np.int64)
        hits.has_offset = np.array(has_off, bool)
        return hits


def _dwarf(ctx: Context) -> SymbolProvider | None:
    return DwarfProvider(ctx.module, ctx.symbols) if ctx.symbols is not None else None


def _symtab(ctx: Context) -> SymbolProvider | None:
    table = ctx.symbols.symtab() if ctx.symbols is not None else None
    return TableProvider(table) if table is not None and len(table) else None


def _user(ctx: Context) -> SymbolProvider | None:
    t = ctx.user_table
    return TableProvider(t) if t is not None and len(t) else None


#: name -> factory; the order of :data:`DEFAULT_CHAIN` is the default chain
PROVIDERS: dict[str, ProviderFactory] = {
    "dwarf": _dwarf,
    "symtab": _symtab,
    "nm": _user,
    "ldmap": _user,
    "breakpad": lambda _ctx: None,  # filled by register_provider("breakpad", ...)
}
DEFAULT_CHAIN: tuple[str, ...] = ("dwarf", "symtab", "nm", "ldmap")


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``factory`` available as provider ``name`` (replacing a slot of that name)."""
    PROVIDERS[name] = factory


def parse_chain(chain: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a chain of provider names; ``None`` is :data:`DEFAULT_CHAIN`.

    Raises:
        UsageError: an unknown provider name.
    """
    if chain is None:
        return DEFAULT_CHAIN
    bad = [c for c in chain if c not in PROVIDERS]
    if bad:
        raise UsageError(f"unknown symbol source {bad[0]!r}; known: {', '.join(PROVIDERS)}")
    return tuple(chain)

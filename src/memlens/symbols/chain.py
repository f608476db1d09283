"""The symbolizer chain: named symbol sources tried in order, per module, in batches.

The sources are symbol providers (:mod:`memlens.symbols.providers`), named
in a chain that is data: ``chain=("symtab",)`` or ``--chain nm,symtab``;
default ``dwarf, symtab, nm, ldmap``.  ``nm``/``ldmap`` tables are keyed by
module path or file name, or ``""`` for absolute addresses (firmware).

For each address the first provider that names it wins; ``dwarf`` also brings
file:line and the inlined-by chain.  An address no provider names but that
lies in alignment padding after a symbol gets ``note="padding after f"``.
Unknown parts stay ``None``.

Public API (stable; used by the heap profiler and others)::

    symbolizer_for(snapshot, debug_dirs=(), sysroot=None, chain=None) -> Symbolizer
    symbolizer_for_file(path, ...) -> Symbolizer    # file addresses, no target
    Symbolizer.symbolize(addresses) -> list[Frame]  # one frame per address, same order
    Symbolizer.resolve(addresses) -> FrameBatch     # the same in columns, frames on demand
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from memlens.core.module import Module
from memlens.symbols import aranges, dwarf
from memlens.symbols.debugfile import debug_dirs as all_debug_dirs
from memlens.symbols.elffile import ElfFile
from memlens.symbols.frame import AddressSymbolizer, Frame
from memlens.symbols.framebatch import Bools, FrameBatch, Located, as_addresses
from memlens.symbols.modmap import ModuleFile, build_module_map
from memlens.symbols.modsyms import ModuleSymbols
from memlens.symbols.naming import shown
from memlens.symbols.providers import (
    DEFAULT_CHAIN,
    PROVIDERS,
    Context,
    SymbolProvider,
    parse_chain,
    register_provider,
)
from memlens.symbols.symtable import SymbolTable

if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot

__all__ = [
    "DEFAULT_CHAIN", "SOURCES", "AddressSymbolizer", "Frame", "FrameBatch", "ModuleFile",
    "ModuleSymbols", "Symbolizer", "parse_chain", "register_provider",
    "symbolizer_for", "symbolizer_for_file",
]  # fmt: skip

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Obj = npt.NDArray[np.object_]
_MASK = (1 << 64) - 1
#: the provider names known when this module was imported (see :data:`PROVIDERS`)
SOURCES = tuple(PROVIDERS)


class Symbolizer:
    """Turns batches of target addresses into :class:`Frame` objects.

    Args:
        modules: the module map (see :func:`build_module_map`).
        chain: source names in order (default :data:`DEFAULT_CHAIN`).
        debug_dirs: extra directories for separate debug files.
        sysroot: where the target's files are (also searched for debug files).
        tables: nm / linker-map tables, keyed by module path, file name or ``""``
            for absolute addresses.
    """

    def __init__(
        self,
        modules: Sequence[ModuleFile],
        *,
        chain: Sequence[str] | None = None,
        debug_dirs: Sequence[str] = (),
        sysroot: str | None = None,
        tables: Mapping[str, SymbolTable] | None = None,
    ) -> None:
        self.chain = parse_chain(chain)
        self.modules = sorted(modules, key=lambda m: m.module.base)
        dirs = all_debug_dirs(debug_dirs, sysroot)
        self._syms = [ModuleSymbols(m, dirs) for m in self.modules]
        self._starts = np.array([m.module.base for m in self.modules], np.uint64)
        self._ends = np.array([m.module.end for m in self.modules], np.uint64)
        self.tables = dict(tables or {})
        self._made: dict[int, list[SymbolProvider]] = {}

    @property
    def warnings(self) -> list[str]:
        """Problems found so far: modules without files, unreadable debug info."""
        out = [f"{m.module.path}: {m.problem}" for m in self.modules if m.problem]
        for s in self._syms:
            out += [f"{s.module_file.module.path}: {p}" for p in s.problems]
        return out

    def module_symbols(self, index: int) -> ModuleSymbols:
        """The symbol sources of ``self.modules[index]``."""
        return self._syms[index]

    def _providers(self, k: int) -> list[SymbolProvider]:
        """The chain's providers for module ``k`` (-1: addresses in no module), made once."""
        got = self._made.get(k)
        if got is None:
            module = self.modules[k].module if k >= 0 else None
            ctx = Context(module, self._syms[k] if k >= 0 else None, self._user_table(module))
            made = (PROVIDERS[name](ctx) for name in self.chain)
            got = self._made[k] = [p for p in made if p is not None]
        return got

    def _user_table(self, module: Module | None) -> SymbolTable | None:
        if module is None:
            return self.tables.get("")
        return self.tables.get(module.path) or self.tables.get(module.name)

    def symbolize(self, addresses: Sequence[int] | npt.NDArray[np.integer]) -> list[Frame]:
        """One frame per address, in order (repeated addresses share one frame)."""
        return self.resolve(addresses).frames()

    def resolve(self, addresses: Sequence[int] | npt.NDArray[np.integer]) -> FrameBatch:
        """The batch path: each distinct address resolved once, in numpy; frames on demand."""
        arr = as_addresses(addresses)
        uniq, inverse = np.unique(arr, return_inverse=True)
        n = len(uniq)
        names: Obj = np.full(n, None, object)
        offsets = np.zeros(n, np.int64)
        has_offset = np.zeros(n, bool)
        located: Located = {}
        notes: dict[int, str] = {}
        if len(self.modules):
            mi = np.searchsorted(self._starts, uniq, side="right").astype(np.int64) - 1
            inside = (mi >= 0) & (uniq < self._ends[np.maximum(mi, 0)])
            mi = np.where(inside, mi, -1)
        else:
            mi = np.full(n, -1, np.int64)
        # ``uniq`` is sorted and modules do not overlap: each module is one run of rows
        bounds = np.flatnonzero(np.diff(mi)) + 1
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), n], strict=True):
            if lo < hi:
                k = int(mi[lo])
                self._module_rows(k, uniq, lo, hi, names, offsets, has_offset, located, notes)
        return FrameBatch(arr, uniq, inverse.astype(np.int64).reshape(-1),
                          paths=[m.module.path for m in self.modules], bases=self._starts,
                          module=mi,
                          function=names, function_offset=offsets, has_offset=has_offset,
                          located=located, notes=notes)  # fmt: skip

    def _module_rows(self, k: int, uniq: U64, lo: int, hi: int,
                     names: Obj, offsets: I64, has_offset: Bools,
                     located: Located, notes: dict[int, str],
                     ) -> None:  # fmt: skip
        """Fill rows ``lo:hi`` of the columns (all addresses in module ``k``; -1: none)."""
        module = self.modules[k].module if k >= 0 else None
        bias = 0 if module is None else module.load_bias
        if bias is None:
            return
        vaddr = uniq[lo:hi] - np.uint64(bias & _MASK)  # wraps like the target's arithmetic
        ms = self._syms[k] if module is not None else None
        todo = np.arange(hi - lo, dtype=np.int64)
        for provider in self._providers(k):
            if not len(todo):
                break
            hits = provider.lookup(vaddr[todo])
            if hits.located:
                row = (todo + lo).tolist()  # not todo[i] per hit: a numpy scalar each
                located.update({row[i]: loc for i, loc in hits.located.items()})
            rows = todo[hits.found] + lo
            names[rows] = hits.function[hits.found]
            offsets[rows] = hits.offset[hits.found]
            has_offset[rows] = hits.has_offset[hits.found]
            todo = todo[~hits.found]
        if len(todo) and ms is not None:
            self._padding_rows(ms, lo, vaddr, todo, located, notes)

    def _padding_rows(self, ms: ModuleSymbols, lo: int, vaddr: U64, todo: I64,
                      located: Located, notes: dict[int, str]) -> None:  # fmt: skip
        """Rows in alignment padding after a symbol: say so; file:line is the line
        table's (its last row runs on over the padding, as llvm-symbolizer reports)."""
        table = ms.symtab()
        if table is None or not len(table):
            return
        pos, end = table.padding(vaddr[todo])
        hit = np.flatnonzero(pos >= 0)
        if not len(hit):
            return
        shown_names = table.names_at(pos[hit], shown).tolist()
        lt, units = ms.lines(), ms.unit_ranges()
        # inside its unit's ranges, padding has the line row of the code before it
        lined = aranges.inside(units, vaddr[todo[hit]]) if units is not None else None
        last = [int(e) - 1 - ms.image_base for e in end[hit].tolist()]
        if lt is None or lined is None:
            rows_lines: list[list[dwarf.LineFrame]] = [[] for _ in last]
        else:
            rows_lines = [x if ok else [] for x, ok in zip(lt.lookup(last), lined.tolist(),
                                                            strict=True)]  # fmt: skip
        for k, name, locs in zip(hit.tolist(), shown_names, rows_lines, strict=True):
            row = lo + int(todo[k])
            notes[row] = f"padding after {name}"
            if locs and locs[0].file is not None:
                located[row] = (locs[0].file, locs[0].line, ())


def symbolizer_for(
    snapshot: Snapshot,
    *,
    debug_dirs: Sequence[str] = (),
    sysroot: str | None = None,
    chain: Sequence[str] | None = None,
    tables: Mapping[str, SymbolTable] | None = None,
) -> Symbolizer:
    """A symbolizer for the addresses of ``snapshot`` (live PID, core, minidump...).

    Raises:
        UsageError: an unknown source in ``chain``.
    """
    modules = build_module_map(snapshot, sysroot=sysroot)
    return Symbolizer(modules, chain=chain, debug_dirs=debug_dirs, sysroot=sysroot,
                      tables=tables)  # fmt: skip


def module_for_file(path: str) -> ModuleFile:
    """The file as a module loaded at its own addresses (bias 0).

    Raises:
        FormatError: not an ELF file.
    """
    with ElfFile(path) as elf:
        base = elf.image_base()
        end = max((s.vaddr + s.memsz for s in elf.loads), default=base)
        module = Module(path, base, max(end, base + 1), load_bias=0)
        return ModuleFile(module, path, elf.build_id())


def symbolizer_for_file(
    path: str,
    *,
    debug_dirs: Sequence[str] = (),
    chain: Sequence[str] | None = None,
    tables: Mapping[str, SymbolTable] | None = None,
) -> Symbolizer:
    """A symbolizer for file (link-time) addresses of the ELF executable or library ``path``.

    Raises:
        FormatError: not an ELF file.
    """
    return Symbolizer([module_for_file(path)], chain=chain, debug_dirs=debug_dirs, tables=tables)

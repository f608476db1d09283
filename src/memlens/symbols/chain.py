"""The symbolizer chain: named symbol sources tried in order, per module, in batches.

Sources (the chain is data: ``chain=("symtab",)`` or ``--chain nm,symtab``):

* ``dwarf``  -- function, file:line and inline frames from DWARF (SymCache);
* ``symtab`` -- ELF ``.symtab`` (or of the separate debug file), else ``.dynsym``;
* ``nm``, ``ldmap`` -- tables the caller gives (``nm`` text, GNU ld map files),
  keyed by module path or file name, or ``""`` for absolute addresses (firmware).

For each address the first source that names it wins; ``dwarf`` also brings
file:line and the inlined-by chain.  Unknown parts stay ``None``.

Public API (stable; used by the heap profiler and others)::

    symbolizer_for(snapshot, debug_dirs=(), sysroot=None, chain=None) -> Symbolizer
    symbolizer_for_file(path, ...) -> Symbolizer    # file addresses, no target
    Symbolizer.symbolize(addresses) -> list[Frame]  # one frame per address, same order
    Symbolizer.resolve(addresses) -> FrameBatch     # the same in columns, frames on demand
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError, MemlensError, UsageError
from memlens.symbols import aranges, dwarf
from memlens.symbols.batch import Bools, FrameBatch, Located, as_addresses
from memlens.symbols.debugfile import debug_dirs as all_debug_dirs
from memlens.symbols.debugfile import find_debug_file
from memlens.symbols.dwarflines import ElfLineTable
from memlens.symbols.elffile import ElfFile
from memlens.symbols.elfsyms import load_elf_symbols
from memlens.symbols.frame import AddressSymbolizer, Frame
from memlens.symbols.modmap import LoadedModule, build_module_map
from memlens.symbols.naming import shown
from memlens.symbols.outer import OuterNames
from memlens.symbols.table import SymbolTable

__all__ = [
    "DEFAULT_CHAIN", "SOURCES", "AddressSymbolizer", "Frame", "FrameBatch", "LoadedModule",
    "Symbolizer",
    "symbolizer_for", "symbolizer_for_file",
]  # fmt: skip

SOURCES = ("dwarf", "symtab", "nm", "ldmap")
DEFAULT_CHAIN: tuple[str, ...] = ("dwarf", "symtab", "nm", "ldmap")
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Obj = npt.NDArray[np.object_]
_MASK = (1 << 64) - 1


def parse_chain(chain: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a chain; ``None`` is the default.

    Raises:
        UsageError: an unknown source name.
    """
    if chain is None:
        return DEFAULT_CHAIN
    bad = [c for c in chain if c not in SOURCES]
    if bad:
        raise UsageError(f"unknown symbol source {bad[0]!r}; known: {', '.join(SOURCES)}")
    return tuple(chain)


class ModuleSymbols:
    """The symbol sources of one module, loaded on first use."""

    def __init__(self, module: LoadedModule, dirs: Sequence[str]) -> None:
        self.module = module
        self.dirs = dirs
        self.problems: list[str] = []
        self._loaded = False
        self._symtab: SymbolTable | None = None
        self._lines: dwarf.LineTable | ElfLineTable | None = None
        self._lines_tried = False
        self.image_base = 0
        self.debug_file: str | None = None
        self._has_debug_info = False
        self._outer: OuterNames | None = None
        self._units: tuple[U64, U64] | None = None
        self._units_read = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        path = self.module.file
        if path is None:
            return
        try:
            with ElfFile(path) as elf:
                self.image_base = elf.image_base()
                table = load_elf_symbols(elf)
                full = elf.section(".symtab") is not None
                self._has_debug_info = elf.has_debug_info()
                link = elf.debuglink()
                if not self._has_debug_info or not full:
                    self.debug_file = find_debug_file(
                        path, self.module.file_build_id, link[0] if link else None, self.dirs
                    )
            if self.debug_file and not full:
                with ElfFile(self.debug_file) as dbg:
                    better = load_elf_symbols(dbg, dynamic=False)
                if len(better):
                    table = better
            self._symtab = table
        except MemlensError as e:
            self.problems.append(str(e))

    def symtab(self) -> SymbolTable | None:
        self._load()
        return self._symtab

    def unit_ranges(self) -> tuple[U64, U64] | None:
        """The compilation units' address ranges (``.debug_aranges``), if any."""
        self._load()
        if not self._units_read:
            self._units_read = True
            source = self.debug_file or (self.module.file if self._has_debug_info else None)
            if source is not None:
                try:
                    self._units = aranges.unit_ranges(source)
                except FormatError as e:
                    self.problems.append(str(e))
        return self._units

    def outer(self) -> OuterNames:
        """Names the outermost DWARF functions with this module's symbol table."""
        if self._outer is None:
            self._outer = OuterNames(self.symtab(), self.image_base)
        return self._outer

    def lines(self) -> dwarf.LineTable | ElfLineTable | None:
        """file:line: symbolic's SymCache (inline frames too), else pyelftools' line table."""
        self._load()
        if self._lines_tried:
            return self._lines
        self._lines_tried = True
        source = self.debug_file or (self.module.file if self._has_debug_info else None)
        if source is None:
            return None
        try:
            if dwarf.available():
                self._lines = dwarf.LineTable(source, self.module.file_build_id)
            else:
                self._lines = ElfLineTable(source, self.image_base, self.module.file_build_id)
        except FormatError as e:
            self.problems.append(str(e))
        return self._lines


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
        modules: Sequence[LoadedModule],
        *,
        chain: Sequence[str] | None = None,
        debug_dirs: Sequence[str] = (),
        sysroot: str | None = None,
        tables: Mapping[str, SymbolTable] | None = None,
    ) -> None:
        self.chain = parse_chain(chain)
        self.modules = sorted(modules, key=lambda m: m.base)
        dirs = all_debug_dirs(debug_dirs, sysroot)
        self._syms = [ModuleSymbols(m, dirs) for m in self.modules]
        self._starts = np.array([m.base for m in self.modules], np.uint64)
        self._ends = np.array([m.end for m in self.modules], np.uint64)
        self.tables = dict(tables or {})

    @property
    def warnings(self) -> list[str]:
        """Problems found so far: modules without files, unreadable debug info."""
        out = [f"{m.path}: {m.problem}" for m in self.modules if m.problem]
        for s in self._syms:
            out += [f"{s.module.path}: {p}" for p in s.problems]
        return out

    def module_symbols(self, index: int) -> ModuleSymbols:
        """The symbol sources of ``self.modules[index]``."""
        return self._syms[index]

    def _user_table(self, module: LoadedModule | None) -> SymbolTable | None:
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
                          paths=[m.path for m in self.modules], bases=self._starts, module=mi,
                          function=names, function_offset=offsets, has_offset=has_offset,
                          located=located, notes=notes)  # fmt: skip

    def _module_rows(self, k: int, uniq: U64, lo: int, hi: int,
                     names: Obj, offsets: I64, has_offset: Bools,
                     located: Located, notes: dict[int, str],
                     ) -> None:  # fmt: skip
        """Fill rows ``lo:hi`` of the columns (all addresses in module ``k``; -1: none)."""
        module = self.modules[k] if k >= 0 else None
        bias = 0 if module is None else module.load_bias
        if bias is None:
            return
        vaddr = uniq[lo:hi] - np.uint64(bias & _MASK)  # wraps like the target's arithmetic
        ms = self._syms[k] if module is not None else None
        todo = np.arange(hi - lo, dtype=np.int64)
        for source in self.chain:
            if not len(todo):
                break
            if source == "dwarf" and ms is not None:
                lt = ms.lines()
                if lt is not None:
                    named = self._dwarf_rows(module, ms, lt, uniq, lo, vaddr, todo, names,
                                             offsets, has_offset, located)  # fmt: skip
                    todo = todo[~named]
                continue
            table = None
            if source == "symtab" and ms is not None:
                table = ms.symtab()
            elif source in ("nm", "ldmap"):
                table = self._user_table(module)
            if table is None or not len(table):
                continue
            pos, off = table.lookup(vaddr[todo])
            hit = pos >= 0
            rows = todo[hit] + lo
            names[rows] = table.names_at(pos[hit], shown)
            offsets[rows] = off[hit]
            has_offset[rows] = True
            todo = todo[~hit]
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

    def _dwarf_rows(self, module: LoadedModule | None, ms: ModuleSymbols,
                    lt: dwarf.LineTable | ElfLineTable,
                    uniq: U64, lo: int, vaddr: U64, todo: I64, names: Obj, offsets: I64,
                    has_offset: Bools, located: Located,
                    ) -> Bools:  # fmt: skip
        """DWARF answers for rows ``lo + todo``; returns which of ``todo`` it named."""
        named = np.zeros(len(todo), bool)
        modname = module.path if module else None
        base = module.base if module else 0
        rel = [v - ms.image_base for v in vaddr[todo].tolist()]
        found = [(k, t, r, locs) for k, (t, r, locs) in enumerate(
            zip(todo.tolist(), rel, lt.lookup(rel), strict=True)) if locs]  # fmt: skip
        # the outermost function's name and offset (DWARF, aliases and pieces from .symtab)
        outer_rows = [(k, t, r, locs) for k, t, r, locs in found
                      if locs[0].function is not None and locs[-1].function is not None]
        outer = ms.outer().names(
            [locs[-1].function or "" for _k, _t, _r, locs in outer_rows],
            [r if locs[-1].function_start is None else locs[-1].function_start
             for _k, _t, r, locs in outer_rows],
            [r for _k, _t, r, _locs in outer_rows],
        )  # fmt: skip
        named_outer = {k: o for (k, _t, _r, _l), o in zip(outer_rows, outer, strict=True)}
        for k, t, _r, locs in found:
            row = lo + t
            addr = int(uniq[row])
            top = locs[0]
            got = named_outer.get(k)
            if got is None:  # a bare line table: the symbol table names it
                located[row] = (top.file, top.line, ())
                continue
            named[k] = True
            if len(locs) == 1:
                names[row], offsets[row] = got
                has_offset[row] = True
            else:
                names[row] = shown(top.function or "")
            inl = tuple(
                Frame(addr, modname, addr - base if module else None,
                      got[0] if loc is locs[-1] else shown(loc.function or ""),
                      got[1] if loc is locs[-1] else None, loc.file, loc.line)
                for loc in locs[1:]
            )  # fmt: skip
            located[row] = (top.file, top.line, inl)
        return named


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


def module_for_file(path: str) -> LoadedModule:
    """The file as a module loaded at its own addresses (bias 0).

    Raises:
        FormatError: not an ELF file.
    """
    with ElfFile(path) as elf:
        base = elf.image_base()
        end = max((s.vaddr + s.memsz for s in elf.loads), default=base)
        return LoadedModule(path, base, max(end, base + 1), 0, None, path, elf.build_id())


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

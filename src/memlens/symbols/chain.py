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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError, MemlensError, UsageError
from memlens.symbols import dwarf
from memlens.symbols.debugfile import debug_dirs as all_debug_dirs
from memlens.symbols.debugfile import find_debug_file
from memlens.symbols.demangle import demangle
from memlens.symbols.elffile import ElfFile
from memlens.symbols.elfsyms import load_elf_symbols
from memlens.symbols.frame import AddressSymbolizer, Frame
from memlens.symbols.modmap import LoadedModule, build_module_map
from memlens.symbols.table import SymbolTable

__all__ = [
    "DEFAULT_CHAIN", "SOURCES", "AddressSymbolizer", "Frame", "LoadedModule", "Symbolizer",
    "symbolizer_for", "symbolizer_for_file",
]  # fmt: skip

SOURCES = ("dwarf", "symtab", "nm", "ldmap")
DEFAULT_CHAIN: tuple[str, ...] = ("dwarf", "symtab", "nm", "ldmap")
U64 = npt.NDArray[np.uint64]
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
        self._lines: dwarf.LineTable | None = None
        self._lines_tried = False
        self.image_base = 0
        self.debug_file: str | None = None
        self._has_debug_info = False

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

    def lines(self) -> dwarf.LineTable | None:
        self._load()
        if self._lines_tried:
            return self._lines
        self._lines_tried = True
        source = self.debug_file or (self.module.file if self._has_debug_info else None)
        if source is None or not dwarf.available():
            return None
        try:
            self._lines = dwarf.LineTable(source, self.module.file_build_id)
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

    def module_symbols(self, module: LoadedModule) -> ModuleSymbols:
        return self._syms[self.modules.index(module)]

    def _user_table(self, module: LoadedModule | None) -> SymbolTable | None:
        if module is None:
            return self.tables.get("")
        return self.tables.get(module.path) or self.tables.get(module.name)

    def symbolize(self, addresses: Sequence[int] | npt.NDArray[np.uint64]) -> list[Frame]:
        """One frame per address, in order."""
        addrs = [int(a) & _MASK for a in addresses]
        arr = np.array(addrs, np.uint64)
        frames: list[Frame | None] = [None] * len(addrs)
        if len(self.modules):
            mi = np.searchsorted(self._starts, arr, side="right").astype(np.int64) - 1
            inside = (mi >= 0) & (arr < self._ends[np.maximum(mi, 0)])
            mi = np.where(inside, mi, -1)
        else:
            mi = np.full(len(addrs), -1, np.int64)
        for k in np.unique(mi):
            sel = np.flatnonzero(mi == k)
            module = self.modules[int(k)] if k >= 0 else None
            for j, frame in zip(sel.tolist(), self._module_batch(module, arr[sel]), strict=True):
                frames[j] = frame
        return [f if f is not None else Frame(a) for f, a in zip(frames, addrs, strict=True)]

    def _module_batch(self, module: LoadedModule | None, arr: U64) -> list[Frame]:
        n = len(arr)
        names: list[str | None] = [None] * n
        offsets: list[int | None] = [None] * n
        files: list[str | None] = [None] * n
        lines: list[int | None] = [None] * n
        inl: list[tuple[Frame, ...]] = [()] * n
        addrs = arr.tolist()
        modname = module.path if module else None
        modoff = [a - module.base for a in addrs] if module else [None] * n
        bias = 0 if module is None else module.load_bias
        if bias is not None:
            vaddr = arr - np.uint64(bias & _MASK)  # wraps like the target's arithmetic
            ms = self._syms[self.modules.index(module)] if module else None
            for source in self.chain:
                todo = np.array([i for i in range(n) if names[i] is None], np.int64)
                if not len(todo):
                    break
                if source == "dwarf" and ms is not None:
                    lt = ms.lines()
                    if lt is None:
                        continue
                    rel = [(int(v) - ms.image_base) for v in vaddr[todo].tolist()]
                    for i, r, locs in zip(todo.tolist(), rel, lt.lookup(rel), strict=True):
                        if not locs:
                            continue
                        top = locs[0]
                        names[i], files[i], lines[i] = demangle(top.function), top.file, top.line
                        if len(locs) == 1 and top.function_start is not None:
                            offsets[i] = r - top.function_start
                        inl[i] = tuple(
                            Frame(addrs[i], modname, modoff[i], demangle(loc.function),
                                  r - loc.function_start
                                  if loc is locs[-1] and loc.function_start is not None else None,
                                  loc.file, loc.line)
                            for loc in locs[1:]
                        )  # fmt: skip
                    continue
                table = None
                if source == "symtab" and ms is not None:
                    table = ms.symtab()
                elif source in ("nm", "ldmap"):
                    table = self._user_table(module)
                if table is None or not len(table):
                    continue
                pos, off = table.lookup(vaddr[todo])
                cache: dict[int, str] = {}
                for i, p, o in zip(todo.tolist(), pos.tolist(), off.tolist(), strict=True):
                    if p < 0:
                        continue
                    name = cache.get(p)
                    if name is None:
                        name = cache[p] = demangle(table.name(p))
                    names[i], offsets[i] = name, o
        return [
            Frame(addrs[i], modname, modoff[i], names[i], offsets[i], files[i], lines[i], inl[i])
            for i in range(n)
        ]


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

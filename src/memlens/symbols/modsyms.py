"""The symbol sources of one module (symbol table, DWARF, unit ranges), loaded on first use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError, MemlensError
from memlens.symbols import aranges, dwarf
from memlens.symbols.debugfile import find_debug_file
from memlens.symbols.elffile import ElfFile
from memlens.symbols.elfsyms import load_elf_symbols
from memlens.symbols.modmap import ModuleFile
from memlens.symbols.outer import OuterNames
from memlens.symbols.symtable import SymbolTable

if TYPE_CHECKING:
    from memlens.symbols.dwarflines import ElfLineTable

U64 = npt.NDArray[np.uint64]


class ModuleSymbols:
    """The symbol sources of one module, loaded on first use."""

    def __init__(self, module_file: ModuleFile, dirs: Sequence[str]) -> None:
        self.module_file = module_file
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
        path = self.module_file.file
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
                        path, self.module_file.file_build_id, link[0] if link else None, self.dirs
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
            source = self.debug_file or (self.module_file.file if self._has_debug_info else None)
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
        source = self.debug_file or (self.module_file.file if self._has_debug_info else None)
        if source is None:
            return None
        try:
            if dwarf.available():
                self._lines = dwarf.LineTable(source, self.module_file.file_build_id)
            else:
                # the pyelftools fallback, imported only when symbolic is missing
                from memlens.symbols.dwarflines import ElfLineTable

                self._lines = ElfLineTable(source, self.image_base, self.module_file.file_build_id)
        except FormatError as e:
            self.problems.append(str(e))
        return self._lines

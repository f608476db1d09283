"""Per-module unwind data, found and parsed once: Breakpad ``.sym`` and DWARF CFI.

A module's DWARF CFI comes from its local ELF file (``.eh_frame``, else
``.debug_frame``), whose link-time addresses the load bias turns into runtime
ones; its Breakpad symbols from a symbol store, by debug file and debug id.
A file that cannot be read leaves the module without that data and a line
in ``problems``.
"""

from __future__ import annotations

import bisect

from memlens.core.module import Module
from memlens.errors import MemlensError
from memlens.symbols.breakpad_sym import BreakpadSymbols, SymbolStore
from memlens.symbols.elffile import ElfFile
from memlens.symbols.modmap import ModuleFile
from memlens.unwind.dwarf_cfi import CfiTable


class UnwindModules:
    """The modules of one target, ordered by address, with their unwind data on demand."""

    def __init__(self, modules: list[ModuleFile], store: SymbolStore | None) -> None:
        found = sorted(modules, key=lambda m: m.module.base)
        self.modules = [m.module for m in found]
        self._starts = [m.base for m in self.modules]
        self._files = {m.module.base: m.file for m in found}  # the local ELF file, if any
        self.store = store
        self._cfi: dict[int, list[CfiTable]] = {}
        self._sym: dict[int, BreakpadSymbols | None] = {}
        self.problems: list[str] = []

    def at(self, address: int) -> Module | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.modules[i].end:
            return self.modules[i]
        return None

    def breakpad(self, module: Module) -> BreakpadSymbols | None:
        if self.store is None or not module.debug_id:
            return None
        if module.base not in self._sym:
            self._sym[module.base] = self.store.find(module.debug_file or module.name,
                                                     module.debug_id)  # fmt: skip
        return self._sym[module.base]

    def cfi(self, module: Module) -> list[CfiTable]:
        """``.eh_frame`` and ``.debug_frame`` of the module's file (link-time addresses)."""
        found = self._cfi.get(module.base)
        if found is not None:
            return found
        tables: list[CfiTable] = []
        file = self._files.get(module.base)
        if file is not None and module.load_bias is not None:
            try:
                with ElfFile(file) as elf:
                    prefix = elf.order
                    for name, eh in ((".eh_frame", True), (".debug_frame", False)):
                        sec = elf.section(name)
                        if sec is None or not sec.size:
                            continue
                        table = CfiTable(elf.section_data(sec), sec.addr, elf.word_size,
                                         prefix, eh)  # fmt: skip
                        if len(table):
                            tables.append(table)
            except MemlensError as e:
                self.problems.append(f"{module.path}: {e}")
        self._cfi[module.base] = tables
        return tables

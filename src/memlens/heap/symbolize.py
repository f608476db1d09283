"""Symbolize the return addresses of heap stacks.

The project's symbolizer chain (``memlens.symbols.chain.symbolizer_for``:
ELF symtab, DWARF lines, inlines, demangling) is used when it is installed.
Until then -- and as a fallback when it fails to load -- a small ELF symbol
table lookup gives module + function names: ``.symtab``/``.dynsym`` read
straight into numpy (ENGINEERING_NOTES §6), debug files found by build ID.

Stack entries are *return* addresses: each is looked up at ``address - 1`` so
that a call that is the last instruction of a function is attributed to that
function (the convention of gdb, pprof and llvm-symbolizer).
"""

from __future__ import annotations

import bisect
import importlib
import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from memlens.core.addrspace import AddressSpace
from memlens.core.snapshot import Module, Snapshot
from memlens.heap.model import HeapProfile
from memlens.symbols.frame import AddressSymbolizer, Frame

DEBUG_ROOT = "/usr/lib/debug"
STT_FUNC = 2
STT_GNU_IFUNC = 10


class _Table:
    """Function symbols of one ELF file, sorted by address (file addresses)."""

    def __init__(self, path: str) -> None:
        self.starts: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self.sizes: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self.names: list[str] = []
        try:
            with open(path, "rb") as f:
                elf = ELFFile(f)
                rows: dict[int, tuple[int, str]] = {}
                for secname in (".dynsym", ".symtab"):
                    sec = elf.get_section_by_name(secname)
                    if not isinstance(sec, SymbolTableSection):
                        continue  # absent, or NOBITS in a separate debug file
                    for sym in sec.iter_symbols():
                        st = sym["st_info"]["type"]
                        if st not in ("STT_FUNC", "STT_GNU_IFUNC") or not sym["st_value"]:
                            continue
                        # .symtab wins over .dynsym; longer sizes win for aliases.
                        rows[sym["st_value"]] = (sym["st_size"], sym.name)
        except (OSError, ELFError, ValueError):
            return
        keys = sorted(rows)
        self.starts = np.array(keys, dtype=np.uint64)
        self.sizes = np.array([rows[k][0] for k in keys], dtype=np.uint64)
        self.names = [rows[k][1] for k in keys]

    def lookup(self, addr: int) -> tuple[str, int] | None:
        i = int(np.searchsorted(self.starts, np.uint64(addr), side="right")) - 1
        if i < 0:
            return None
        off = addr - int(self.starts[i])
        size = int(self.sizes[i])
        if size and off >= size:
            return None
        return self.names[i], off


def debug_file_for(module: Module) -> str | None:
    """The separate debug file of ``module`` (``/usr/lib/debug/.build-id/xx/rest.debug``)."""
    if module.build_id:
        hexid = module.build_id.hex()
        path = os.path.join(DEBUG_ROOT, ".build-id", hexid[:2], hexid[2:] + ".debug")
        if os.path.exists(path):
            return path
    return None


class ElfSymtabSymbolizer:
    """Module + function names from ELF symbol tables (no file:line)."""

    def __init__(self, modules: Sequence[Module]) -> None:
        self.modules = sorted(modules, key=lambda m: m.base)
        self._bases = [m.base for m in self.modules]
        self._tables: dict[str, list[_Table]] = {}

    def _tables_for(self, module: Module) -> list[_Table]:
        if module.path not in self._tables:
            tables = [_Table(module.path)]
            dbg = debug_file_for(module)
            if dbg:
                tables.insert(0, _Table(dbg))
            self._tables[module.path] = tables
        return self._tables[module.path]

    def symbolize(self, addresses: Sequence[int]) -> list[Frame]:
        out = []
        for addr in addresses:
            i = bisect.bisect_right(self._bases, addr) - 1
            mod = self.modules[i] if i >= 0 else None
            if mod is None or not mod.base <= addr < mod.end or mod.load_bias is None:
                out.append(Frame(address=addr))
                continue
            rel = addr - mod.load_bias
            func = None
            for table in self._tables_for(mod):
                func = table.lookup(rel)
                if func:
                    break
            out.append(
                Frame(
                    address=addr,
                    module=mod.path,
                    module_offset=rel,
                    function=func[0] if func else None,
                    function_offset=func[1] if func else None,
                )
            )
        return out


def symbolizer_for_profile(
    profile: HeapProfile, debug_dirs: Sequence[str] = ()
) -> AddressSymbolizer:
    """The project's symbolizer chain when available, else :class:`ElfSymtabSymbolizer`."""
    try:
        chain = importlib.import_module("memlens.symbols.chain")
    except ImportError:
        return ElfSymtabSymbolizer(profile.modules)
    snap = Snapshot(
        format=profile.format,
        source=profile.source,
        space=AddressSpace([], []),
        modules=list(profile.modules),
        pid=profile.pid,
    )
    return chain.symbolizer_for(snap, debug_dirs=tuple(debug_dirs))  # type: ignore[no-any-return]


def symbolize_returns(symbolizer: AddressSymbolizer, addresses: Sequence[int]) -> dict[int, Frame]:
    """Frames for return addresses (looked up at ``address - 1``), keyed by the return address."""
    unique = sorted(set(addresses))
    frames = symbolizer.symbolize([max(a - 1, 0) for a in unique])
    return {
        a: replace(
            f,
            address=a,
            module_offset=None if f.module_offset is None else f.module_offset + 1,
            function_offset=None if f.function_offset is None else f.function_offset + 1,
        )
        for a, f in zip(unique, frames, strict=True)
    }

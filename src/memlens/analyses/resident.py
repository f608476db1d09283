"""Which symbols of a library are resident: the seed's memsymbols, fixed.

For each symbol, ``[address, address + size)`` is moved to the target by the
library's load bias (from its PT_LOAD headers, never "address = file
offset"), and the resident bytes are counted over every page it spans:
``fraction = resident bytes / size``.  A symbol of unknown size is judged by
its first page (fraction unknown).  Missing residency bits (memdump's
stripped trailing bytes) are "not resident".  Each page's residency is
computed once per library, the symbols are measured by prefix sums: no loop
per page or per symbol in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from memlens.core.region import Region
from memlens.core.snapshot import Snapshot
from memlens.errors import UsageError
from memlens.symbols.chain import ModuleSymbols
from memlens.symbols.debugfile import debug_dirs
from memlens.symbols.modmap import ModuleFile, build_module_map
from memlens.symbols.symtable import BIND_GLOBAL, BIND_WEAK, KIND_FUNC, KIND_OBJECT, SymbolTable

U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class PageResidency:
    """Resident pages of one library's mappings, sorted by address."""

    page_size: int
    pages: U64  # address of each page
    present: npt.NDArray[np.bool_]
    executable: npt.NDArray[np.bool_]

    def resident_bytes(self, starts: U64, ends: U64) -> U64:
        """Resident bytes in each ``[start, end)`` (pages outside the mappings count as not)."""
        if not len(self.pages):
            return np.zeros(len(starts), np.uint64)
        p = np.uint64(self.page_size)
        cum = np.concatenate(([0], np.cumsum(self.present.astype(np.uint64)) * p)).astype(
            np.uint64)  # fmt: skip

        def upto(x: U64) -> U64:
            k = np.searchsorted(self.pages, x, side="right").astype(np.int64) - 1
            kc = np.maximum(k, 0)
            inside = np.minimum(x - np.minimum(self.pages[kc], x), p)
            part = np.where((k >= 0) & self.present[kc], inside, np.uint64(0))
            return np.where(k >= 0, cum[kc] + part, np.uint64(0)).astype(np.uint64)

        return upto(ends) - upto(starts)

    def page_present(self, addresses: U64) -> npt.NDArray[np.bool_]:
        if not len(self.pages):
            return np.zeros(len(addresses), bool)
        k = np.searchsorted(self.pages, addresses, side="right").astype(np.int64) - 1
        kc = np.maximum(k, 0)
        return (k >= 0) & (addresses < self.pages[kc] + np.uint64(self.page_size)) & (
            self.present[kc])  # fmt: skip


@dataclass(slots=True)
class LibraryResidency:
    """One library: its regions, bias, pages and per-symbol residency."""

    path: str
    regions: list[Region]
    load_bias: int | None
    pages: PageResidency
    table: SymbolTable | None = None
    runtime: U64 = field(default_factory=lambda: np.zeros(0, np.uint64))
    resident: U64 = field(default_factory=lambda: np.zeros(0, np.uint64))
    any_resident: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    listed: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    #: nm type letter per symbol, from the section holding it (None: not computed)
    letters: npt.NDArray[np.str_] | None = None
    warnings: list[str] = field(default_factory=list)

    def letter(self, i: int) -> str:
        """The symbol's nm type letter: from its section when the ELF was read."""
        assert self.table is not None
        if self.letters is not None:
            return str(self.letters[i])
        return nm_letter(self.table, i)

    def fraction(self, i: int) -> float | None:
        assert self.table is not None
        if not self.table.size_known[i] or not self.table.sizes[i]:
            return None
        return float(self.resident[i]) / float(self.table.sizes[i])

    def counts(self) -> tuple[int, int, int, int]:
        """(text pages, resident text pages, data pages, resident data pages)."""
        x, pres = self.pages.executable, self.pages.present
        return int(x.sum()), int((x & pres).sum()), int((~x).sum()), int((~x & pres).sum())


def _page_residency(snapshot: Snapshot, regions: list[Region]) -> PageResidency:
    ps = snapshot.page_size
    pages, present, execs = [], [], []
    for region, table in snapshot.iter_page_tables(regions, kpage=False):
        n = (region.end - region.start + ps - 1) // ps
        addr = np.uint64(region.start) + np.arange(n, dtype=np.uint64) * np.uint64(ps)
        pres = np.zeros(n, bool)
        if table is not None:
            got = np.asarray(table.present, bool)[:n]
            pres[: len(got)] = got
        pages.append(addr)
        present.append(pres)
        execs.append(np.full(n, region.perms.execute, bool))
    if not pages:
        return PageResidency(ps, np.zeros(0, np.uint64), np.zeros(0, bool), np.zeros(0, bool))
    a = np.concatenate(pages)
    order = np.argsort(a, kind="stable")
    return PageResidency(ps, a[order], np.concatenate(present)[order],
                         np.concatenate(execs)[order])  # fmt: skip


def library_groups(snapshot: Snapshot, lib: str | None) -> dict[str, list[Region]]:
    """File-backed regions grouped by path; only paths containing ``lib`` when given.

    ``lib`` matches as ``--areas`` does: a substring (``libc``) or a whole path.
    """
    groups: dict[str, list[Region]] = {}
    for r in snapshot.regions:
        path = r.path or (r.name if r.name.startswith("/") else None)
        if path and (lib is None or lib in path):
            groups.setdefault(path, []).append(r)
    return groups


def _nm_bias(table: SymbolTable, regions: list[Region]) -> int:
    """Bias for symbols from an nm file when the ELF itself is not at hand.

    The mapping of file offset 0 holds the first PT_LOAD.  A shared object
    (or PIE) is linked at 0: its symbols lie below the mapping, and the bias
    is the mapping's start.  Symbols already inside the mapped range belong
    to a file linked where it is loaded (a non-PIE executable): bias 0.
    """
    first = min(regions, key=lambda r: (r.offset, r.start))
    sized = table.addresses[table.size_known | (table.sizes > 0)]
    # nm output without sizes (nm without -S) has no sized symbol: use them all
    candidates = sized if len(sized) else table.addresses
    lo = int(candidates.min()) if len(candidates) else 0
    return 0 if lo >= first.start - first.offset else first.start - first.offset


def library_residency(
    snapshot: Snapshot,
    path: str,
    regions: list[Region],
    *,
    module: ModuleFile | None = None,
    nm_table: SymbolTable | None = None,
    bias: int | None = None,
    sysroot: str | None = None,
) -> LibraryResidency:
    """Residency of ``path`` and of each of its symbols (from ``nm_table`` or the ELF)."""
    layout = _layout(module.file) if module is not None and module.file else None
    if module is not None and bias is None:
        bias = module.module.load_bias
    if layout is not None and bias is not None:
        # .bss past the file: the kernel maps it as anonymous memory after the last
        # file page; its symbols live there
        regions = regions + _bss_regions(snapshot, layout, bias, regions)
    lib = LibraryResidency(path, regions, None, _page_residency(snapshot, regions))
    table = nm_table
    if module is not None and module.problem:
        lib.warnings.append(f"{path}: {module.problem}")
    if table is None and module is not None and module.file:
        ms = ModuleSymbols(module, debug_dirs((), sysroot))
        table = ms.symtab()
        lib.warnings += [f"{path}: {p}" for p in ms.problems]
    if table is None:
        if not lib.warnings:
            lib.warnings.append(f"{path}: no symbols (file not found; give --nm FILE or "
                                "--sysroot DIR)")
        return lib
    if bias is None:
        bias = _nm_bias(table, regions)
        lib.warnings.append(f"{path}: ELF file not available; assumed load bias {bias:#x} "
                            "from the mapping of file offset 0 (override with --bias)")
    lib.load_bias, lib.table = bias, table
    runtime = table.addresses + np.uint64(bias & ((1 << 64) - 1))
    lib.runtime = runtime
    ends = runtime + np.where(table.size_known, table.sizes, np.uint64(0))
    lib.resident = lib.pages.resident_bytes(runtime, ends)
    sized = table.size_known & (table.sizes > 0)
    lib.any_resident = np.where(sized, lib.resident > 0, lib.pages.page_present(runtime))
    lib.listed = table.addressable
    if layout is not None and nm_table is None:
        # symbols of sections that are never loaded (__evoke_link_warning_* of
        # .gnu.warning.*): no address in the process, never resident
        lib.letters, in_memory = _section_letters(table, layout)
        lib.listed = lib.listed & in_memory
        lib.any_resident = lib.any_resident & in_memory
    return lib


SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHT_NOBITS = 8


@dataclass(frozen=True, slots=True)
class ElfLayout:
    """What of an ELF file's layout residency needs, in file (link-time) addresses."""

    starts: U64  # allocated sections, sorted by address
    ends: U64
    flags: npt.NDArray[np.uint64]
    nobits: npt.NDArray[np.bool_]
    bss: list[tuple[int, int]]  # [vaddr + filesz, vaddr + memsz) of each PT_LOAD


def _layout(path: str) -> ElfLayout | None:
    """The allocated sections and the zero-filled tails of the PT_LOADs of ``path``."""
    from memlens.errors import MemlensError
    from memlens.symbols.elffile import ElfFile

    try:
        with ElfFile(path) as elf:
            secs = sorted((s for s in elf.sections if s.flags & SHF_ALLOC and s.size),
                          key=lambda s: s.addr)  # fmt: skip
            bss = [(ld.vaddr + ld.filesz, ld.vaddr + ld.memsz) for ld in elf.loads
                   if ld.memsz > ld.filesz]  # fmt: skip
    except MemlensError:
        return None
    return ElfLayout(
        np.array([s.addr for s in secs], np.uint64),
        np.array([s.addr + s.size for s in secs], np.uint64),
        np.array([s.flags for s in secs], np.uint64),
        np.array([s.type == SHT_NOBITS for s in secs], bool),
        bss,
    )


def _bss_regions(snapshot: Snapshot, layout: ElfLayout, bias: int,
                 regions: list[Region]) -> list[Region]:  # fmt: skip
    """Unnamed regions overlapping a PT_LOAD's zero-filled tail (not already listed)."""
    have = {r.start for r in regions}
    out = []
    for lo, hi in layout.bss:
        a, b = lo + bias, hi + bias
        for r in snapshot.regions:
            if r.start < b and a < r.end and not r.name and r.start not in have:
                out.append(r)
                have.add(r.start)
    return out


def _section_letters(table: SymbolTable, layout: ElfLayout
                     ) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.bool_]]:  # fmt: skip
    """nm's type letter of each symbol from the allocated section holding its address
    (code t, writable data d, zero-filled b, read-only r; upper case when global; weak
    W/V), and whether that address is in an allocated section at all."""
    addr = table.addresses
    k = np.searchsorted(layout.starts, addr, side="right").astype(np.int64) - 1
    kc = np.maximum(k, 0)
    inside = (k >= 0) & (addr < layout.ends[kc]) if len(layout.starts) else np.zeros(
        len(addr), bool)  # fmt: skip
    # a symbol at the very end of a section (``_end``, ``__bss_start``) belongs to it
    at_end = np.isin(addr, layout.ends) & ~inside
    if at_end.any():
        j = np.searchsorted(layout.ends, addr[at_end], side="left")
        kc = kc.copy()
        order = np.argsort(layout.ends, kind="stable")
        kc[at_end] = order[np.minimum(j, len(order) - 1)]
        inside = inside | at_end
    if not len(layout.starts):
        return np.full(len(addr), "?"), inside
    flags = layout.flags[kc]
    letter = np.where(flags & np.uint64(SHF_EXECINSTR) != 0, "t",
             np.where(flags & np.uint64(SHF_WRITE) != 0,
                      np.where(layout.nobits[kc], "b", "d"), "r"))  # fmt: skip
    letter = np.where(table.binds == BIND_GLOBAL, np.char.upper(letter), letter)
    weak = table.binds == BIND_WEAK
    letter = np.where(weak, np.where(table.kinds == KIND_OBJECT, "V", "W"), letter)
    return np.where(inside, letter, "?"), inside


def residency_for(
    snapshot: Snapshot,
    lib: str | None,
    *,
    nm_table: SymbolTable | None = None,
    bias: int | None = None,
    sysroot: str | None = None,
) -> list[LibraryResidency]:
    """Per library whose path ends with ``lib`` (all file mappings when ``None``).

    Raises:
        UsageError: the target has no residency information, or no such library.
    """
    if not snapshot.has_residency:
        raise UsageError(f"{snapshot.source}: no page residency in this {snapshot.format} "
                         "snapshot (a live PID, a memdump or a memlens snapshot has it)")
    groups = library_groups(snapshot, lib)
    if lib is not None and not groups:
        raise UsageError(f"--lib {lib}: no file mapped in {snapshot.source} has it in its path")
    modules = {m.module.path: m for m in build_module_map(snapshot, sysroot=sysroot)}
    return [
        library_residency(snapshot, path, regions, module=modules.get(path), nm_table=nm_table,
                          bias=bias, sysroot=sysroot)
        for path, regions in groups.items()
    ]  # fmt: skip


def nm_letter(table: SymbolTable, i: int) -> str:
    """An nm-style type letter for symbol ``i`` (T/t code, D/d data, W weak, ? other)."""
    kind, bind = int(table.kinds[i]), int(table.binds[i])
    if bind == BIND_WEAK:
        return "W" if kind == KIND_FUNC else "V"
    letter = "T" if kind == KIND_FUNC else "D" if kind == KIND_OBJECT else "?"
    return letter if bind == BIND_GLOBAL else letter.lower()

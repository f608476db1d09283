"""ELF images found in a target's saved memory, and the modules they make.

A kernel core keeps the first page of every ELF file mapping (its ELF and
program headers) and the vdso in full.  From those headers alone memlens can
say where an image lies (its PT_LOAD extent), its build id (PT_NOTE) and the
vdso's name (DT_SONAME).  When the core has no NT_FILE note, the modules come
from the dynamic loader's list instead: auxv ``AT_PHDR`` -> the executable's
``PT_DYNAMIC`` -> ``DT_DEBUG`` -> ``struct r_debug`` -> the ``link_map``
chain (``l_addr``, ``l_name``, ``l_ld``, ``l_next``), as elfutils does.

Every read may fail (not saved): a failed read ends that image or that walk,
never the core.  Counts (program headers, dynamic entries, link-map entries)
are bounded before anything is read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from memlens.core.addrspace import AddressSpace
from memlens.core.module import Module
from memlens.errors import MemlensError
from memlens.sources.elfcore.notes import gnu_build_id

PT_LOAD, PT_DYNAMIC, PT_NOTE, PT_PHDR = 1, 2, 4, 6
DT_NULL, DT_STRTAB, DT_SONAME, DT_DEBUG = 0, 5, 14, 21
AT_PHDR, AT_PHNUM, AT_EXECFN, AT_SYSINFO_EHDR = 3, 5, 31, 33
MAX_PHNUM = 256
MAX_DYN = 4096
MAX_NOTE = 1 << 16
MAX_LINKMAP = 1024
MAX_MAPPINGS = 8  # mappings one shared object spans at most (text, data, relro...)
PAGE = 0x1000

#: per ELF class: Elf_Ehdr offsets of e_phoff (and its format) and e_phnum; Elf_Phdr
#: format and the positions of (type, offset, vaddr, filesz, memsz) in it
_EHDR = {1: (28, "I", 44), 2: (32, "Q", 56)}
_PHDR = {1: ("IIIIIIII", (0, 1, 2, 4, 5)), 2: ("IIQQQQQQ", (0, 2, 3, 5, 6))}


@dataclass(frozen=True, slots=True)
class Phdr:
    type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True, slots=True)
class Image:
    """The program headers of one ELF image in memory, and its load bias."""

    prefix: str
    word: int
    phdrs: tuple[Phdr, ...]
    bias: int

    @property
    def loads(self) -> list[Phdr]:
        return [p for p in self.phdrs if p.type == PT_LOAD]

    def extent(self) -> tuple[int, int] | None:
        """``[start, end)`` of the PT_LOADs in memory, rounded out to pages."""
        loads = self.loads
        if not loads:
            return None
        lo = min(p.vaddr for p in loads) & ~(PAGE - 1)
        hi = max(p.vaddr + p.memsz for p in loads)
        return lo + self.bias, ((hi + PAGE - 1) & ~(PAGE - 1)) + self.bias

    def build_id(self, space: AddressSpace) -> bytes | None:
        for p in self.phdrs:
            if p.type == PT_NOTE and 0 < p.filesz <= MAX_NOTE:
                try:
                    found = gnu_build_id(space.read(p.vaddr + self.bias, p.filesz), self.prefix)
                except MemlensError:
                    continue
                if found:
                    return found
        return None

    def dynamic(self, space: AddressSpace) -> Iterator[tuple[int, int, int]]:
        """``(tag, value, address of the value)`` of each PT_DYNAMIC entry, to DT_NULL."""
        dyn = next((p for p in self.phdrs if p.type == PT_DYNAMIC), None)
        if dyn is None:
            return
        entry = 2 * self.word
        at = dyn.vaddr + self.bias
        for i in range(min(dyn.memsz // entry, MAX_DYN)):
            tag = space.pointer(at + i * entry)
            if tag == DT_NULL:
                return
            yield tag, space.pointer(at + i * entry + self.word), at + i * entry + self.word

    def soname(self, space: AddressSpace) -> str | None:
        try:
            entries = {tag: value for tag, value, _ in self.dynamic(space)}
            if DT_STRTAB not in entries or DT_SONAME not in entries:
                return None
            # An image the loader relocated holds runtime addresses in its dynamic
            # section; the vdso (never relocated) holds link-time ones: add the bias
            # when the address is outside the image.
            strtab = entries[DT_STRTAB]
            extent = self.extent()
            if extent is not None and not extent[0] <= strtab < extent[1]:
                strtab = (strtab + self.bias) % (1 << (8 * self.word))
            name = space.cstring(strtab + entries[DT_SONAME], 256, pad=False)
        except MemlensError:
            return None
        return name.decode("utf-8", "replace") or None


def image_at(space: AddressSpace, base: int) -> Image | None:
    """The ELF image whose header is at ``base`` (its first PT_LOAD maps file offset 0)."""
    try:
        head = space.read(base, 64, pad=True)
        if head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
            return None
        elfclass, prefix = head[4], "<" if head[5] == 1 else ">"
        phoff_at, phoff_fmt, phnum_at = _EHDR[elfclass]
        phoff = struct.unpack_from(prefix + phoff_fmt, head, phoff_at)[0]
        phnum = min(struct.unpack_from(prefix + "H", head, phnum_at)[0], MAX_PHNUM)
        phdrs = _phdrs(space, base + phoff, phnum, elfclass, prefix)
    except MemlensError:
        return None
    bias = load_bias(phdrs, base)
    if bias is None:
        return None
    return Image(prefix, 4 if elfclass == 1 else 8, tuple(phdrs), bias)


def load_bias(phdrs: list[Phdr], header_at: int) -> int | None:
    """Runtime minus link-time address of an image whose ELF header is at ``header_at``.

    The header is file offset 0, mapped by the PT_LOAD whose offset lies in the first
    page; that mapping starts at ``bias + vaddr - offset`` whatever the page size (a
    PT_LOAD's vaddr and offset agree modulo its alignment).  None: no PT_LOAD maps it.
    """
    first = min((p for p in phdrs if p.type == PT_LOAD), key=lambda p: p.offset, default=None)
    if first is None or first.offset >= PAGE:
        return None
    return header_at - (first.vaddr - first.offset)


def _phdrs(space: AddressSpace, at: int, count: int, elfclass: int, prefix: str) -> list[Phdr]:
    fmt, pick = _PHDR[elfclass]
    size = struct.calcsize(fmt)
    raw = space.read(at, size * count)
    return [Phdr(*(rec[i] for i in pick)) for rec in struct.iter_unpack(prefix + fmt, raw)]


def module_at(space: AddressSpace, base: int, path: str | None) -> Module | None:
    """A module for the image at ``base``; its name is ``path``, else its DT_SONAME."""
    image = image_at(space, base)
    if image is None:
        return None
    extent = image.extent()
    name = path or image.soname(space)
    if extent is None or not name:
        return None
    return Module(name, extent[0], extent[1], build_id=image.build_id(space),
                  load_bias=image.bias)  # fmt: skip


def vdso(space: AddressSpace, auxv: dict[int, int]) -> Module | None:
    """The vdso (``linux-vdso.so.1``, ``linux-gate.so.1``...) at ``AT_SYSINFO_EHDR``."""
    at = auxv.get(AT_SYSINFO_EHDR)
    return module_at(space, at, None) if at else None


def from_headers(space: AddressSpace, starts: list[int]) -> list[Module]:
    """Images whose ELF header begins one of ``starts`` (region starts), named by their
    DT_SONAME or, without one, by their address -- the last resort when neither NT_FILE
    nor the link map names anything."""
    out = []
    for start in starts:
        image = image_at(space, start)
        extent = image.extent() if image is not None else None
        if image is None or extent is None:
            continue
        name = image.soname(space) or f"[elf@{start:#x}]"
        out.append(Module(name, extent[0], extent[1], build_id=image.build_id(space),
                          load_bias=image.bias))  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class LinkMapEntry:
    """One object on the dynamic loader's ``link_map`` list, as the loader records it."""

    name: str
    l_addr: int  # the load bias the loader applied
    l_ld: int  # the runtime address of its PT_DYNAMIC


def from_link_map(space: AddressSpace, auxv: dict[int, int]) -> list[Module]:
    """The executable (``AT_PHDR``) and every object on the loader's ``link_map`` list
    whose ELF header is in memory."""
    try:
        exe = executable(space, auxv)
        out = [] if exe is None else [exe]
        for entry in link_map(space, auxv):
            module = _linked(space, entry)
            if module is not None:
                out.append(module)
    except MemlensError:
        return []
    return out


def executable(space: AddressSpace, auxv: dict[int, int]) -> Module | None:
    """The main program, from its program headers at ``AT_PHDR`` (named by ``AT_EXECFN``,
    else ``[exe]``); its bias from ``PT_PHDR``.

    Raises:
        MemlensError: its program headers are not readable.
    """
    exe = _exe_image(space, auxv)
    extent = exe.extent() if exe is not None else None
    if exe is None or extent is None:
        return None
    name = _cstring(space, auxv.get(AT_EXECFN)) or "[exe]"
    return Module(name, extent[0], extent[1], build_id=exe.build_id(space), load_bias=exe.bias)


def _exe_image(space: AddressSpace, auxv: dict[int, int]) -> Image | None:
    phdr_at, phnum = auxv.get(AT_PHDR), auxv.get(AT_PHNUM)
    if not phdr_at or not phnum:
        return None
    elfclass = 2 if space.word_size == 8 else 1
    prefix = "<" if space.byteorder == "little" else ">"
    phdrs = _phdrs(space, phdr_at, min(phnum, MAX_PHNUM), elfclass, prefix)
    own = next((p for p in phdrs if p.type == PT_PHDR), None)
    loads = [p for p in phdrs if p.type == PT_LOAD]
    if own is not None:
        bias = phdr_at - own.vaddr
    elif loads and loads[0].offset == 0:
        bias = 0  # no PT_PHDR: a non-PIE executable
    else:
        return None
    return Image(prefix, space.word_size, tuple(phdrs), bias)


def link_map(space: AddressSpace, auxv: dict[int, int]) -> Iterator[LinkMapEntry]:
    """The loader's list of shared objects: the executable's ``DT_DEBUG`` -> ``r_debug``
    -> ``r_map`` -> ``l_next``..., bounded and loop-safe (the executable's own entry,
    whose name is empty, left out).

    Raises:
        MemlensError: a read failed (what was yielded before stays valid).
    """
    exe = _exe_image(space, auxv)
    if exe is None:
        return
    r_debug = next((value for tag, value, _ in exe.dynamic(space) if tag == DT_DEBUG), 0)
    if not r_debug:
        return
    word = space.word_size
    entry = space.pointer(r_debug + word)  # r_map follows int r_version, padded to a word
    seen: set[int] = set()
    while entry and entry not in seen and len(seen) < MAX_LINKMAP:
        seen.add(entry)
        l_addr, l_name, l_ld, l_next = (space.pointer(entry + k * word) for k in range(4))
        name = _cstring(space, l_name)
        entry = l_next
        if name:
            yield LinkMapEntry(name, l_addr, l_ld)


def _linked(space: AddressSpace, entry: LinkMapEntry) -> Module | None:
    """The image of one link-map entry whose bias is the loader's ``l_addr``.

    A shared object linked at vaddr 0 has its ELF header at ``l_addr``; one linked
    higher (prelinked, ``-Ttext-segment``) at the start of one of the mappings below
    its ``l_ld``, which the walk tries nearest first.
    """
    found = module_at(space, entry.l_addr, entry.name)
    if found is not None and found.load_bias == entry.l_addr:
        return found
    regions = space.region_map
    i = regions.index(entry.l_ld) if entry.l_ld else -1
    for k in range(i, max(i - MAX_MAPPINGS, -1), -1):
        start = regions.bounds(k)[0]
        found = module_at(space, start, entry.name) if start != entry.l_addr else None
        if found is not None and found.load_bias == entry.l_addr:
            return found
    return None


def _cstring(space: AddressSpace, at: int | None) -> str | None:
    if not at:
        return None
    try:
        raw = space.cstring(at, 4096, pad=False)
    except MemlensError:
        return None
    return raw.decode("utf-8", "surrogateescape") or None

"""Loaded modules of a target whose source does not list them (a live process).

Each file-backed mapping's load bias comes from the file's PT_LOAD headers:
``bias = map_start - (p_vaddr - p_offset + map_offset)`` for the segment that
holds the mapping's file offset -- 0 for a non-PIE executable, the base for
PIE executables and shared libraries.  The GNU build ID identifies the file
so a saved profile can refuse a file that changed since.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from memlens.core.region import Region
from memlens.core.snapshot import Module

PT_LOAD = 1
PT_NOTE = 4
NT_GNU_BUILD_ID = 3

# (class, data) -> (ehdr fields, phdr struct); layouts from the ELF gABI.
_EHDR = {
    (1, "<"): ("<16xHHIIIIIHHH", "<IIIIIIII"),
    (2, "<"): ("<16xHHIQQQIHHH", "<IIQQQQQQ"),
    (1, ">"): (">16xHHIIIIIHHH", ">IIIIIIII"),
    (2, ">"): (">16xHHIQQQIHHH", ">IIQQQQQQ"),
}


def _phdrs(head: bytes) -> tuple[str, list[tuple[int, int, int, int, int]]] | None:
    """``(byte order, [(type, offset, vaddr, filesz, memsz)])`` from the first bytes of an ELF."""
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    cls, bo = head[4], "<" if head[5] == 1 else ">"
    ehdr_fmt, ph_fmt = _EHDR[(cls, bo)]
    try:
        fields = struct.unpack_from(ehdr_fmt, head)
    except struct.error:
        return None
    phoff, phentsize, phnum = fields[4], fields[8], fields[9]
    out = []
    size = struct.calcsize(ph_fmt)
    if phentsize < size:
        return None
    for i in range(min(phnum, 256)):
        off = phoff + i * phentsize
        if off + size > len(head):
            break
        p = struct.unpack_from(ph_fmt, head, off)
        if cls == 1:  # p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
            out.append((p[0], p[1], p[2], p[4], p[5]))
        else:  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
            out.append((p[0], p[2], p[3], p[5], p[6]))
    return bo, out


def build_id_of(path: str) -> bytes | None:
    """The GNU build ID of an ELF file, or ``None``."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
            parsed = _phdrs(head)
            if parsed is None:
                return None
            bo, phdrs = parsed
            for ptype, off, _vaddr, filesz, _memsz in phdrs:
                if ptype != PT_NOTE or filesz > 1 << 20:
                    continue
                f.seek(off)
                found = _find_build_id(f.read(filesz), bo)
                if found is not None:
                    return found
    except OSError:
        return None
    return None


def _find_build_id(notes: bytes, bo: str) -> bytes | None:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, ntype = struct.unpack_from(bo + "III", notes, pos)
        name_end = pos + 12 + ((namesz + 3) & ~3)
        desc_end = name_end + ((descsz + 3) & ~3)
        if desc_end > len(notes):
            return None
        if ntype == NT_GNU_BUILD_ID and notes[pos + 12 : pos + 12 + namesz].rstrip(b"\0") == b"GNU":
            return notes[name_end : name_end + descsz]
        pos = desc_end
    return None


def load_bias(path: str, map_start: int, map_offset: int) -> int | None:
    """Bias of ``path`` mapped at ``map_start`` from file offset ``map_offset``."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return None
    parsed = _phdrs(head)
    if parsed is None:
        return None
    for ptype, off, vaddr, filesz, _memsz in parsed[1]:
        page_off = off & ~0xFFF
        if ptype == PT_LOAD and page_off <= map_offset < off + max(filesz, 1):
            return map_start - (vaddr - off + map_offset)
    return None


def modules_from_regions(regions: Sequence[Region]) -> list[Module]:
    """One module per mapped ELF file, from the mapping with the lowest file offset."""
    by_path: dict[str, list[Region]] = {}
    for r in regions:
        if r.path and not r.path.startswith("["):
            by_path.setdefault(r.path, []).append(r)
    modules = []
    for path, maps in by_path.items():
        first = min(maps, key=lambda r: (r.offset, r.start))
        bias = load_bias(path, first.start, first.offset)
        if bias is None:
            continue
        modules.append(
            Module(
                path=path,
                base=min(r.start for r in maps),
                end=max(r.end for r in maps),
                build_id=build_id_of(path),
                load_bias=bias,
            )
        )
    return sorted(modules, key=lambda m: m.base)

"""A small, bounded ELF reader over an mmap: headers, segments, sections, notes.

Only what symbolization needs: program headers (for the load bias), section
headers (symbol tables, ``.gnu_debuglink``), the GNU build id.  Layouts are
numpy structured dtypes (one table per class and byte order), so a header
table is one ``frombuffer`` -- never a loop of ``struct.unpack`` -- and every
count is bounded by the bytes the file really has.

Raises :class:`~memlens.errors.FormatError` for anything malformed.
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError
from memlens.sources.elfcore.notes import gnu_build_id

ELF_MAGIC = b"\x7fELF"
ET_EXEC, ET_DYN, ET_CORE = 2, 3, 4
PT_LOAD, PT_DYNAMIC, PT_NOTE = 1, 2, 4
PF_X = 1
SHT_SYMTAB, SHT_NOBITS, SHT_DYNSYM = 2, 8, 11
SHN_UNDEF, SHN_ABS, SHN_XINDEX = 0, 0xFFF1, 0xFFFF

_EHDR_FIELDS: dict[int, list[tuple[str, str]]] = {
    # e_ident is read separately; these follow it (class -> field list)
    1: [("type", "u2"), ("machine", "u2"), ("version", "u4"), ("entry", "u4"),
        ("phoff", "u4"), ("shoff", "u4"), ("flags", "u4"), ("ehsize", "u2"),
        ("phentsize", "u2"), ("phnum", "u2"), ("shentsize", "u2"), ("shnum", "u2"),
        ("shstrndx", "u2")],
    2: [("type", "u2"), ("machine", "u2"), ("version", "u4"), ("entry", "u8"),
        ("phoff", "u8"), ("shoff", "u8"), ("flags", "u4"), ("ehsize", "u2"),
        ("phentsize", "u2"), ("phnum", "u2"), ("shentsize", "u2"), ("shnum", "u2"),
        ("shstrndx", "u2")],
}  # fmt: skip
_PHDR_FIELDS: dict[int, list[tuple[str, str]]] = {
    1: [("type", "u4"), ("offset", "u4"), ("vaddr", "u4"), ("paddr", "u4"),
        ("filesz", "u4"), ("memsz", "u4"), ("flags", "u4"), ("align", "u4")],
    2: [("type", "u4"), ("flags", "u4"), ("offset", "u8"), ("vaddr", "u8"),
        ("paddr", "u8"), ("filesz", "u8"), ("memsz", "u8"), ("align", "u8")],
}  # fmt: skip
_SHDR_FIELDS: dict[int, list[tuple[str, str]]] = {
    1: [("name", "u4"), ("type", "u4"), ("flags", "u4"), ("addr", "u4"), ("offset", "u4"),
        ("size", "u4"), ("link", "u4"), ("info", "u4"), ("addralign", "u4"),
        ("entsize", "u4")],
    2: [("name", "u4"), ("type", "u4"), ("flags", "u8"), ("addr", "u8"), ("offset", "u8"),
        ("size", "u8"), ("link", "u4"), ("info", "u4"), ("addralign", "u8"),
        ("entsize", "u8")],
}  # fmt: skip
#: Elf32_Sym and Elf64_Sym differ in field order, not only in width
SYM_FIELDS: dict[int, list[tuple[str, str]]] = {
    1: [("name", "u4"), ("value", "u4"), ("size", "u4"), ("info", "u1"), ("other", "u1"),
        ("shndx", "u2")],
    2: [("name", "u4"), ("info", "u1"), ("other", "u1"), ("shndx", "u2"), ("value", "u8"),
        ("size", "u8")],
}  # fmt: skip


def dtype(fields: list[tuple[str, str]], order: str) -> np.dtype[Any]:
    """A packed structured dtype with every field in byte order ``order`` (``<``/``>``)."""
    return _dtype(tuple(fields), order)


@functools.cache
def _dtype(fields: tuple[tuple[str, str], ...], order: str) -> np.dtype[Any]:
    return np.dtype([(name, order + code) for name, code in fields])


@dataclass(frozen=True, slots=True)
class LoadSegment:
    """One PT_LOAD: file bytes ``[offset, offset+filesz)`` at ``[vaddr, vaddr+memsz)``."""

    vaddr: int
    offset: int
    filesz: int
    memsz: int
    flags: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class ElfFile:
    """An ELF file mapped read-only.  Use as a context manager or call :meth:`close`.

    Raises:
        FormatError: not an ELF file, or its headers point outside the file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise FormatError(path, None, e.strerror or str(e)) from None
        try:
            size = os.fstat(fd).st_size
            if size < 52:
                raise FormatError(path, 0, f"too small for an ELF header ({size} bytes)")
            self._map: mmap.mmap | None = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        except OSError as e:
            raise FormatError(path, None, e.strerror or str(e)) from None
        finally:
            os.close(fd)
        self.data = memoryview(self._map)
        try:
            self._parse()
        except FormatError:
            self.close()
            raise

    def _parse(self) -> None:
        head = bytes(self.data[:16])
        if head[:4] != ELF_MAGIC:
            raise FormatError(self.path, 0, "not an ELF file")
        self.elfclass = head[4]
        if self.elfclass not in (1, 2) or head[5] not in (1, 2):
            raise FormatError(self.path, 4, f"bad ELF class/data {head[4]}/{head[5]}")
        self.order = "<" if head[5] == 1 else ">"
        self.word_size = 4 if self.elfclass == 1 else 8
        ehdr = self._table(16, 1, _EHDR_FIELDS[self.elfclass], "ELF header")[0]
        self.type = int(ehdr["type"])
        self.machine = int(ehdr["machine"])
        self.entry = int(ehdr["entry"])
        self.sections: list[Section] = []
        shnum, shstrndx = int(ehdr["shnum"]), int(ehdr["shstrndx"])
        shoff, phnum = int(ehdr["shoff"]), int(ehdr["phnum"])
        shdrs = None
        self.shoff = shoff
        self.shentsize = dtype(_SHDR_FIELDS[self.elfclass], self.order).itemsize
        if shoff:
            first = self._table(shoff, 1, _SHDR_FIELDS[self.elfclass], "section header")[0]
            # extended numbering (ELF gABI): real counts live in section header 0
            shnum = shnum or int(first["size"])
            if shstrndx == SHN_XINDEX:
                shstrndx = int(first["link"])
            if phnum == 0xFFFF:
                phnum = int(first["info"])
            shdrs = self._table(shoff, shnum, _SHDR_FIELDS[self.elfclass], "section headers")
        phdrs = self._table(
            int(ehdr["phoff"]), phnum if ehdr["phoff"] else 0, _PHDR_FIELDS[self.elfclass],
            "program headers",
        )  # fmt: skip
        self.phdrs = phdrs.copy()  # no view into the map outlives close()
        self.loads = [
            LoadSegment(vaddr, offset, filesz, memsz, flags)
            for ptype, vaddr, offset, filesz, memsz, flags in zip(
                *(phdrs[f].tolist() for f in ("type", "vaddr", "offset", "filesz", "memsz",
                                              "flags")), strict=True)
            if ptype == PT_LOAD
        ]  # fmt: skip
        if shdrs is not None and len(shdrs):
            names = b""
            if shstrndx < len(shdrs):
                names = self._bytes(int(shdrs[shstrndx]["offset"]), int(shdrs[shstrndx]["size"]))
            # columns as Python ints at once: a record at a time is ~50x slower
            cols = [shdrs[f].tolist() for f in ("name", "type", "flags", "addr", "offset",
                                                 "size", "link", "entsize")]  # fmt: skip
            for n, *rest in zip(*cols, strict=True):
                name = names[n : names.find(b"\0", n)].decode("utf-8", "replace") if n < len(
                    names) else ""  # fmt: skip
                self.sections.append(Section(name, *rest))

    def _table(
        self, offset: int, count: int, fields: list[tuple[str, str]], what: str
    ) -> npt.NDArray[Any]:
        dt = dtype(fields, self.order)
        end = offset + count * dt.itemsize
        if offset < 0 or end > len(self.data):
            raise FormatError(self.path, offset, f"{what} ({count} entries) extend past the end")
        return np.frombuffer(self.data, dt, count, offset)

    def _bytes(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise FormatError(self.path, offset, f"{size} bytes extend past the end of the file")
        return bytes(self.data[offset : offset + size])

    def section_data(self, section: Section) -> memoryview:
        """The bytes of ``section`` (empty for SHT_NOBITS)."""
        if section.type == SHT_NOBITS:
            return memoryview(b"")
        if section.offset + section.size > len(self.data):
            raise FormatError(self.path, section.offset, f"section {section.name} is truncated")
        return self.data[section.offset : section.offset + section.size]

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def build_id(self) -> bytes | None:
        """The NT_GNU_BUILD_ID, from PT_NOTE segments or else from note sections."""
        spans = [(int(p["offset"]), int(p["filesz"])) for p in self.phdrs if p["type"] == PT_NOTE]
        spans += [(s.offset, s.size) for s in self.sections if s.type == 7]  # SHT_NOTE
        for off, size in spans:
            if off + size <= len(self.data):
                found = gnu_build_id(self.data[off : off + size], self.order)
                if found:
                    return found
        return None

    def debuglink(self) -> tuple[str, int] | None:
        """``(file name, crc32)`` from ``.gnu_debuglink``, when present."""
        s = self.section(".gnu_debuglink")
        if s is None:
            return None
        raw = bytes(self.section_data(s))
        nul = raw.find(b"\0")
        if nul <= 0:
            return None
        crc_at = (nul + 4) & ~3
        crc = struct.unpack_from(self.order + "I", raw, crc_at)[0] if crc_at + 4 <= len(raw) else 0
        return raw[:nul].decode("utf-8", "surrogateescape"), crc

    def has_debug_info(self) -> bool:
        s = self.section(".debug_info")
        return s is not None and s.type != SHT_NOBITS and s.size > 0

    def image_base(self) -> int:
        """The lowest page-aligned PT_LOAD vaddr (0 for a PIE or shared object)."""
        if not self.loads:
            return 0
        return min(seg.vaddr - (seg.offset % 4096 if seg.offset else 0) for seg in self.loads)

    def bias_for_mapping(self, start: int, file_offset: int) -> int | None:
        """Load bias when file offset ``file_offset`` is mapped at ``start``.

        A PT_LOAD maps file offset ``o`` at ``p_vaddr + (o - p_offset)``; the
        mapping puts it at ``start + (o - file_offset)``; the difference is the
        bias.  ``None`` when the offset is in no PT_LOAD's file bytes.
        """
        page = 4096
        for seg in self.loads:
            lo = seg.offset - seg.offset % page
            if lo <= file_offset < seg.offset + max(seg.filesz, 1):
                return start - file_offset - (seg.vaddr - seg.offset)
        return None

    def close(self) -> None:
        if self._map is not None:
            try:
                self.data.release()
                self._map.close()
            except BufferError:
                # a caller still holds a view into the map; it is unmapped when
                # the last view goes away
                pass
            self._map = None

    def __enter__(self) -> ElfFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_elf(path: str) -> tuple[bool, int | None]:
    """Whether ``path`` starts with the ELF magic, and its ``e_type`` if so."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False, None
    if len(head) < 18 or head[:4] != ELF_MAGIC or head[5] not in (1, 2):
        return False, None
    return True, struct.unpack_from("<H" if head[5] == 1 else ">H", head, 16)[0]

"""ELF headers of a core file: identification, file header, program headers.

Layouts are data (struct format strings per ELF class), read with the file's
byte order.  Every count and offset is checked against the file size before
anything is allocated: a core may be truncated, and a hostile one may claim
anything.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

from memlens.errors import FormatError

Buffer = bytes | memoryview | mmap.mmap

ELF_MAGIC = b"\x7fELF"
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
PN_XNUM = 0xFFFF  # e_phnum escape: the real count is in section 0's sh_info
PF_X, PF_W, PF_R = 1, 2, 4

#: e_machine -> architecture name used by memlens
MACHINES: dict[int, str] = {
    2: "sparc", 3: "i386", 4: "m68k", 8: "mips", 18: "sparc", 20: "ppc", 21: "ppc64",
    22: "s390x", 40: "arm", 43: "sparc64", 62: "x86_64", 94: "xtensa", 183: "aarch64",
    243: "riscv64",
}  # fmt: skip
#: (e_machine, ELF class) whose name differs from MACHINES': the 32-bit ABI of a 64-bit
#: machine (x32 is ELFCLASS32 with e_machine EM_X86_64)
MACHINES_BY_CLASS: dict[tuple[int, int], str] = {
    (62, 1): "x32", (22, 1): "s390", (8, 2): "mips64", (243, 1): "riscv32",
}  # fmt: skip

#: per ELF class (1 = 32-bit, 2 = 64-bit): header layouts after e_ident.
#: file header fields: type, machine, version, entry, phoff, shoff, flags, ehsize,
#: phentsize, phnum, shentsize, shnum, shstrndx
_EHDR = {1: "HHIIIIIHHHHHH", 2: "HHIQQQIHHHHHH"}
#: program header fields, in file order (they differ between the classes)
_PHDR = {
    1: ("IIIIIIII", ("type", "offset", "vaddr", "paddr", "filesz", "memsz", "flags", "align")),
    2: ("IIQQQQQQ", ("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align")),
}
#: section header 0 (only sh_info is needed, for PN_XNUM): offset of sh_info, its format
_SH_INFO = {1: (28, "I"), 2: (44, "I")}


@dataclass(frozen=True, slots=True)
class ElfHeader:
    elf_class: int  # 1 or 2
    byteorder: str  # "little" or "big"
    type: int
    machine: int
    phoff: int
    phentsize: int
    phnum: int
    shoff: int

    @property
    def word_size(self) -> int:
        return 4 if self.elf_class == 1 else 8

    @property
    def prefix(self) -> str:
        return "<" if self.byteorder == "little" else ">"

    @property
    def arch_name(self) -> str:
        return MACHINES_BY_CLASS.get((self.machine, self.elf_class)) or MACHINES.get(
            self.machine, f"machine-{self.machine}")


@dataclass(frozen=True, slots=True)
class ProgramHeader:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int


def probe(head: bytes) -> bool:
    """An ELF file of type ET_CORE (never raises)."""
    if len(head) < 18 or head[:4] != ELF_MAGIC or head[4] not in (1, 2) or head[5] not in (1, 2):
        return False
    e_type = int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")
    return e_type == ET_CORE


def parse_header(buf: Buffer, source: str) -> ElfHeader:
    """The file header.

    Raises:
        FormatError: not an ELF core, or the header is cut short.
    """
    if len(buf) < 16 or bytes(buf[:4]) != ELF_MAGIC:
        raise FormatError(source, 0, "not an ELF file")
    cls, data = buf[4], buf[5]
    if cls not in (1, 2) or data not in (1, 2):
        raise FormatError(source, 4, f"bad ELF class/data bytes {cls}/{data}")
    order = "little" if data == 1 else "big"
    prefix = "<" if data == 1 else ">"
    fmt = struct.Struct(prefix + _EHDR[cls])
    if len(buf) < 16 + fmt.size:
        raise FormatError(source, len(buf), "ELF header is truncated")
    (e_type, machine, _ver, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
     _shentsize, _shnum, _shstrndx) = fmt.unpack_from(buf, 16)  # fmt: skip
    if e_type != ET_CORE:
        raise FormatError(source, 16, f"ELF type {e_type} is not a core (4)")
    if phnum == PN_XNUM:
        off, f = _SH_INFO[cls]
        pos = shoff + off
        if shoff == 0 or pos + 4 > len(buf):
            raise FormatError(source, shoff, "e_phnum is PN_XNUM but section 0 is missing")
        phnum = struct.unpack_from(prefix + f, buf, pos)[0]
    return ElfHeader(cls, order, e_type, machine, phoff, phentsize, phnum, shoff)


def parse_program_headers(
    buf: Buffer, hdr: ElfHeader, source: str, warnings: list[str]
) -> list[ProgramHeader]:
    """Program headers; those past the end of a truncated file are dropped with a warning.

    Raises:
        FormatError: ``e_phentsize`` is smaller than a program header.
    """
    fmt_text, names = _PHDR[hdr.elf_class]
    fmt = struct.Struct(hdr.prefix + fmt_text)
    if hdr.phnum == 0:
        return []
    if hdr.phentsize < fmt.size:
        raise FormatError(source, 0, f"e_phentsize {hdr.phentsize} < {fmt.size}")
    # Bound the claimed count by the bytes that remain before reading any.
    room = max(0, len(buf) - hdr.phoff) // hdr.phentsize if hdr.phoff < len(buf) else 0
    count = min(hdr.phnum, room)
    if count < hdr.phnum:
        warnings.append(
            f"file is truncated: {hdr.phnum - count} of {hdr.phnum} program headers "
            f"are past its end ({len(buf)} bytes)"
        )
    out = []
    for i in range(count):
        values = dict(zip(names, fmt.unpack_from(buf, hdr.phoff + i * hdr.phentsize), strict=True))
        v = values
        out.append(ProgramHeader(v["type"], v["flags"], v["offset"], v["vaddr"], v["filesz"],
                                 v["memsz"], v["align"]))  # fmt: skip
    return out

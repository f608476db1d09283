"""An independent writer of synthetic ELF cores for tests.

It packs every structure with its own format strings, written from the ELF
gABI and the kernel's ``elf_prstatus``/``elf_prpsinfo``/NT_FILE layouts, and
does not import the reader's tables: a layout mistake in the reader cannot
agree with itself here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class Load:
    vaddr: int
    data: bytes
    memsz: int | None = None  # default len(data)
    flags: int = 6  # PF_R | PF_W
    offset: int | None = None  # file offset override (for overlaps of file ranges / hostile)


@dataclass
class NoteItem:
    owner: bytes
    ntype: int
    desc: bytes


@dataclass
class Core:
    bits: int = 64
    endian: str = "little"
    machine: int = 62
    loads: list[Load] = field(default_factory=list)
    notes: list[NoteItem] = field(default_factory=list)
    note_align: int = 4
    phnum_override: int | None = None
    #: write e_phnum as PN_XNUM (0xffff) and the real count in section header 0's sh_info
    xnum: bool = False

    @property
    def e(self) -> str:
        return "<" if self.endian == "little" else ">"

    @property
    def w(self) -> str:
        return "Q" if self.bits == 64 else "I"

    def note_blob(self) -> bytes:
        out = b""
        a = self.note_align
        for n in self.notes:
            name = n.owner + b"\0"
            out += struct.pack(self.e + "III", len(name), len(n.desc), n.ntype)
            out += name + b"\0" * (-len(name) % a)
            out += n.desc + b"\0" * (-len(n.desc) % a)
        return out

    def build(self) -> bytes:
        e = self.e
        ehsize, phentsize = (64, 56) if self.bits == 64 else (52, 32)
        phnum = 1 + len(self.loads)
        notes = self.note_blob()
        data_at = ehsize + phentsize * phnum
        notes_at = data_at
        pos = notes_at + len(notes)
        pos = (pos + 0xFFF) & ~0xFFF
        body = bytearray(notes + b"\0" * (pos - notes_at - len(notes)))
        offsets = []
        for ld in self.loads:
            if ld.offset is not None:
                offsets.append(ld.offset)
                continue
            offsets.append(notes_at + len(body))
            body += ld.data
        ei_class = 1 if self.bits == 32 else 2
        ei_data = 1 if self.endian == "little" else 2
        ident = b"\x7fELF" + bytes([ei_class, ei_data, 1, 0]) + b"\0" * 8
        count = self.phnum_override if self.phnum_override is not None else phnum
        shoff = shnum = 0
        if self.xnum:
            count, shnum = 0xFFFF, 1
            shoff = notes_at + len(body)
            # Elf64_Shdr / Elf32_Shdr of section 0: all zero but sh_info = the real count
            if self.bits == 64:
                body += struct.pack(e + "IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, phnum, 0, 0)
            else:
                body += struct.pack(e + "IIIIIIIIII", 0, 0, 0, 0, 0, 0, 0, phnum, 0, 0)
        shentsize = 64 if self.bits == 64 else 40
        if self.bits == 64:
            hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 4, self.machine, 1, 0, ehsize, shoff,
                                      0, ehsize, phentsize, count, shentsize, shnum, 0)  # fmt: skip
        else:
            hdr = ident + struct.pack(e + "HHIIIIIHHHHHH", 4, self.machine, 1, 0, ehsize, shoff,
                                      0, ehsize, phentsize, count, shentsize, shnum, 0)  # fmt: skip
        phdrs = self._phdr(4, 0, notes_at, 0, len(notes), len(notes), self.note_align)
        for ld, off in zip(self.loads, offsets, strict=True):
            memsz = ld.memsz if ld.memsz is not None else len(ld.data)
            phdrs += self._phdr(1, ld.flags, off, ld.vaddr, len(ld.data), memsz, 0x1000)
        return hdr + phdrs + bytes(body)

    def _phdr(self, ptype: int, flags: int, off: int, vaddr: int, filesz: int, memsz: int,
              align: int) -> bytes:  # fmt: skip
        if self.bits == 64:
            return struct.pack(self.e + "IIQQQQQQ", ptype, flags, off, vaddr, vaddr, filesz,
                               memsz, align)  # fmt: skip
        return struct.pack(self.e + "IIIIIIII", ptype, off, vaddr, vaddr, filesz, memsz, flags,
                           align)  # fmt: skip

    # -- note descriptions (kernel layouts, written out by hand) --------------

    def prstatus(self, pid: int, regs: list[int], cursig: int = 0) -> NoteItem:
        e, w = self.e, self.w
        if self.bits == 64:
            # siginfo(3 int) cursig(short)+pad, sigpend, sighold, pid ppid pgrp sid, 4 timevals
            head = struct.pack(e + "iiihxxQQiiii", 0, 0, 0, cursig, 0, 0, pid, 1, pid, 1)
            head += b"\0" * 64
            tail = struct.pack(e + "ixxxx", 0)
        else:
            head = struct.pack(e + "iiihxxIIiiii", 0, 0, 0, cursig, 0, 0, pid, 1, pid, 1)
            head += b"\0" * 32
            tail = struct.pack(e + "i", 0)
        return NoteItem(b"CORE", 1, head + struct.pack(e + w * len(regs), *regs) + tail)

    def prpsinfo(self, pid: int, fname: bytes, psargs: bytes, uid: int = 1000) -> NoteItem:
        e = self.e
        if self.bits == 64:
            desc = struct.pack(e + "bbbbxxxxQIIiiii16s80s", 0, 82, 0, 0, 0, uid, uid, pid, 1,
                               pid, 1, fname, psargs)  # fmt: skip
        else:  # i386: 16-bit uid/gid
            desc = struct.pack(e + "bbbbIHHiiii16s80s", 0, 82, 0, 0, 0, uid, uid, pid, 1, pid, 1,
                               fname, psargs)  # fmt: skip
        return NoteItem(b"CORE", 3, desc)

    def nt_file(self, entries: list[tuple[int, int, int, bytes]], page: int = 4096) -> NoteItem:
        e, w = self.e, self.w
        desc = struct.pack(e + w + w, len(entries), page)
        for start, end, pgoff, _ in entries:
            desc += struct.pack(e + w * 3, start, end, pgoff)
        desc += b"".join(p + b"\0" for *_, p in entries)
        return NoteItem(b"CORE", 0x46494C45, desc)

    def auxv(self, pairs: list[tuple[int, int]]) -> NoteItem:
        flat = [x for kv in [*pairs, (0, 0)] for x in kv]
        return NoteItem(b"CORE", 6, struct.pack(self.e + self.w * len(flat), *flat))

    def siginfo(self, signo: int, code: int, addr: int) -> NoteItem:
        e = self.e
        if self.bits == 64:
            desc = struct.pack(e + "iiixxxxQ", signo, 0, code, addr) + b"\0" * 104
        else:
            desc = struct.pack(e + "iiiI", signo, 0, code, addr) + b"\0" * 112
        return NoteItem(b"CORE", 0x53494749, desc)

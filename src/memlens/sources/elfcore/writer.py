"""Write an ELF core that gdb opens: PT_LOAD per region, NT_PRSTATUS/PRPSINFO/AUXV/FILE.

Layout (as the kernel writes it): ELF header, program headers (one PT_NOTE,
then one PT_LOAD per region), the notes, then each region's saved bytes
page-aligned.  A region whose bytes cannot be read (no read permission,
``[vvar]``, a range the kernel refuses) gets ``filesz`` 0 or the readable
prefix only: the rest is "not saved", never zeroes.  All-zero chunks become
holes, so the file is sparse.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from memlens.core.region import Region
from memlens.errors import MemlensError

CHUNK = 1 << 20
_ZERO = bytes(CHUNK)
EM_BY_ARCH = {"x86_64": 62, "aarch64": 183, "i386": 3, "arm": 40}


@dataclass(frozen=True, slots=True)
class ThreadState:
    tid: int
    registers: bytes  # the kernel's elf_gregset_t (empty when unknown)


@dataclass(frozen=True, slots=True)
class ProcessFacts:
    pid: int
    ppid: int
    pgrp: int
    sid: int
    uid: int
    gid: int
    state: str
    comm: str
    args: str
    nice: int = 0


@dataclass(slots=True)
class CoreLayout:
    """What went into the file."""

    saved: dict[int, int] = field(default_factory=dict)  # region start -> bytes saved
    size: int = 0


def _note(owner: bytes, ntype: int, desc: bytes) -> bytes:
    name = owner + b"\0"
    return (struct.pack("<III", len(name), len(desc), ntype) + name + b"\0" * (-len(name) % 4)
            + desc + b"\0" * (-len(desc) % 4))  # fmt: skip


def prstatus_desc(tid: int, facts: ProcessFacts, registers: bytes, reg_size: int) -> bytes:
    """64-bit ``elf_prstatus``: siginfo, cursig, sigpend, sighold, ids, 4 timevals, pr_reg."""
    head = struct.pack("<iiihxxQQiiii", 0, 0, 0, 0, 0, 0, tid, facts.ppid, facts.pgrp, facts.sid)
    regs = registers[:reg_size].ljust(reg_size, b"\0")
    return head + b"\0" * 64 + regs + struct.pack("<ixxxx", 0)


def prpsinfo_desc(facts: ProcessFacts) -> bytes:
    """64-bit ``elf_prpsinfo`` (136 bytes)."""
    state = "RSDTZW".find(facts.state[:1]) if facts.state else 0
    return struct.pack(
        "<bbbbxxxxQIIiiii16s80s", max(state, 0), ord((facts.state or "?")[:1]), 0, facts.nice,
        0, facts.uid, facts.gid, facts.pid, facts.ppid, facts.pgrp, facts.sid,
        facts.comm.encode()[:15], facts.args.encode()[:79],
    )  # fmt: skip


def file_note_desc(regions: Iterable[Region], page_size: int) -> bytes:
    files = [r for r in regions if r.path]
    table = b"".join(struct.pack("<QQQ", r.start, r.end, r.offset // page_size) for r in files)
    names = b"".join(r.name.encode("utf-8", "surrogateescape") + b"\0" for r in files)
    return struct.pack("<QQ", len(files), page_size) + table + names


def build_notes(
    facts: ProcessFacts, threads: Sequence[ThreadState], regions: Sequence[Region],
    page_size: int, auxv: bytes, reg_size: int, extra: Sequence[tuple[bytes, int, bytes]],
) -> bytes:  # fmt: skip
    """The note segment: the first thread's notes as the kernel orders them, then the others."""
    out = []
    for i, t in enumerate(threads):
        out.append(_note(b"CORE", 1, prstatus_desc(t.tid, facts, t.registers, reg_size)))
        if i == 0:
            out.append(_note(b"CORE", 3, prpsinfo_desc(facts)))
            if auxv:
                out.append(_note(b"CORE", 6, auxv))
            out.append(_note(b"CORE", 0x46494C45, file_note_desc(regions, page_size)))
    out += [_note(owner, ntype, desc) for owner, ntype, desc in extra]
    return b"".join(out)


def write_core(
    out: BinaryIO, *, machine: int, regions: Sequence[Region], notes: bytes, page_size: int,
    read: Callable[[int, int], bytes],
) -> CoreLayout:  # fmt: skip
    """Write the core to ``out`` (seekable); ``read(addr, n)`` gives a region's bytes.

    ``read`` raising :class:`MemlensError` ends that region's saved part.
    """
    phnum = 1 + len(regions)
    if phnum >= 0xFFFF:
        raise MemlensError(f"{len(regions)} regions: more than an ELF core header can count")
    headers = 64 + 56 * phnum
    data_at = _align(headers + len(notes), page_size)
    layout = CoreLayout()
    pos = data_at
    phdrs = [struct.pack("<IIQQQQQQ", 4, 0, headers, 0, 0, len(notes), 0, 4)]
    for r in regions:
        saved = _copy_region(out, r, pos, read, page_size) if r.perms.read else 0
        layout.saved[r.start] = saved
        flags = (4 if r.perms.read else 0) | (2 if r.perms.write else 0) | (
            1 if r.perms.execute else 0)  # fmt: skip
        phdrs.append(struct.pack("<IIQQQQQQ", 1, flags, pos, r.start, 0, saved, r.size,
                                 page_size))  # fmt: skip
        pos = _align(pos + saved, page_size)
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 4, machine, 1, 0, 64, 0, 0, 64, 56, phnum,
                               0, 0, 0)  # fmt: skip
    out.seek(0)
    out.write(ehdr + b"".join(phdrs) + notes)
    out.truncate(pos)
    layout.size = pos
    return layout


def _copy_region(out: BinaryIO, region: Region, pos: int, read: Callable[[int, int], bytes],
                 page: int) -> int:  # fmt: skip
    """Copy the readable prefix of ``region`` to ``pos``; zero chunks become holes."""
    done = 0
    while done < region.size:
        n = min(CHUNK, region.size - done)
        try:
            data = read(region.start + done, n)
        except MemlensError:
            # Part of the chunk may still be readable: keep its readable pages.
            data = _readable_pages(read, region.start + done, n, page)
            if not data:
                break
            n = len(data)
        if data != _ZERO[:n]:
            out.seek(pos + done)
            out.write(data)
        done += n
        if n < CHUNK and done < region.size:
            break
    return done


def _readable_pages(read: Callable[[int, int], bytes], addr: int, size: int, page: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        try:
            out += read(addr + len(out), min(page, size - len(out)))
        except MemlensError:
            break
    return bytes(out)


def _align(n: int, page: int) -> int:
    return (n + page - 1) // page * page

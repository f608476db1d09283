"""Write an ELF core that gdb opens: PT_LOAD per region, NT_PRSTATUS/PRPSINFO/AUXV/FILE.

Layout: ELF header, program headers (one PT_NOTE, then one PT_LOAD per
region), each region's bytes page-aligned, then the notes (last, because they
record which pages could actually be read; gdb and readelf find them through
PT_NOTE's offset wherever they are).

Only the pages the caller asks for are read (``memlens snapshot`` asks for the
pages pagemap shows present: reading any other would fault it in).  A page
sits at its own offset in the PT_LOAD; pages not read are holes in the file,
``filesz`` ends after the last page read, and the MEMLENS page note lists the
runs that are really there.  A page whose read fails (no read permission,
``[vvar]``) is not saved either.  All-zero chunks become holes, so the file is
sparse.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
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


#: (first page, pages) runs of one region
Runs = list[tuple[int, int]]


@dataclass(slots=True)
class CoreLayout:
    """What went into the file."""

    saved: dict[int, int] = field(default_factory=dict)  # region start -> bytes saved
    runs: dict[int, Runs] = field(default_factory=dict)  # region start -> pages saved
    size: int = 0


def _note(owner: bytes, ntype: int, desc: bytes) -> bytes:
    return b"".join(note_chunks(owner, ntype, desc))


def note_head(owner: bytes, ntype: int, size: int) -> bytes:
    """An ELF note's header and name, for a description of ``size`` bytes written after it
    (then ``-size % 4`` bytes of padding)."""
    name = owner + b"\0"
    return struct.pack("<III", len(name), size, ntype) + name + b"\0" * (-len(name) % 4)


def note_chunks(owner: bytes, ntype: int,
                desc: bytes | bytearray) -> tuple[bytes, bytes | bytearray, bytes]:  # fmt: skip
    """One ELF note as (header and name, description, padding): written in turn, a large
    description is never copied into a joined buffer."""
    name = owner + b"\0"
    head = struct.pack("<III", len(name), len(desc), ntype) + name + b"\0" * (-len(name) % 4)
    return head, desc, b"\0" * (-len(desc) % 4)


def prstatus_desc(tid: int, facts: ProcessFacts, registers: bytes, reg_size: int,
                  word: int = 8) -> bytes:  # fmt: skip
    """``elf_prstatus``: siginfo, cursig, sigpend, sighold, ids, 4 timevals, pr_reg, fpvalid
    -- 64-bit (pr_reg at 112), or i386's layout for ``word == 4`` (pr_reg at 72)."""
    w = "Q" if word == 8 else "I"
    head = struct.pack(f"<iiihxx{w}{w}iiii", 0, 0, 0, 0, 0, 0, tid, facts.ppid, facts.pgrp,
                       facts.sid)  # fmt: skip
    regs = registers[:reg_size].ljust(reg_size, b"\0")
    tail = struct.pack("<ixxxx", 0) if word == 8 else struct.pack("<i", 0)
    return head + b"\0" * (8 * word) + regs + tail


def prpsinfo_desc(facts: ProcessFacts, word: int = 8) -> bytes:
    """``elf_prpsinfo``: 136 bytes on 64-bit, 124 on i386 (16-bit uid/gid there)."""
    state = "RSDTZW".find(facts.state[:1]) if facts.state else 0
    layout = "<bbbbxxxxQIIiiii16s80s" if word == 8 else "<bbbbIHHiiii16s80s"
    ids = (facts.uid, facts.gid) if word == 8 else (facts.uid & 0xFFFF, facts.gid & 0xFFFF)
    return struct.pack(
        layout, max(state, 0), ord((facts.state or "?")[:1]), 0, facts.nice,
        0, *ids, facts.pid, facts.ppid, facts.pgrp, facts.sid,
        facts.comm.encode()[:15], facts.args.encode()[:79],
    )  # fmt: skip


def file_note_desc(regions: Iterable[Region], page_size: int, word: int = 8) -> bytes:
    # every mapping of a file, as the kernel lists them: shared anonymous memory is a
    # mapping of "/dev/zero (deleted)" too
    w = "Q" if word == 8 else "I"
    files = [r for r in regions if r.path or r.name.startswith("/")]
    table = b"".join(struct.pack(f"<{w}{w}{w}", r.start, r.end, r.offset // page_size)
                     for r in files)  # fmt: skip
    names = b"".join(r.name.encode("utf-8", "surrogateescape") + b"\0" for r in files)
    return struct.pack(f"<{w}{w}", len(files), page_size) + table + names


def build_notes(
    facts: ProcessFacts, threads: Sequence[ThreadState], regions: Sequence[Region],
    page_size: int, auxv: bytes, reg_size: int, extra: Sequence[tuple[bytes, int, bytes]],
    word: int = 8,
) -> bytes:  # fmt: skip
    """The note segment: the first thread's notes as the kernel orders them, then the others
    (``word``: the process's word size, 4 for an i386 program)."""
    out = []
    for i, t in enumerate(threads):
        out.append(_note(b"CORE", 1, prstatus_desc(t.tid, facts, t.registers, reg_size, word)))
        if i == 0:
            out.append(_note(b"CORE", 3, prpsinfo_desc(facts, word)))
            if auxv:
                out.append(_note(b"CORE", 6, auxv))
            out.append(_note(b"CORE", 0x46494C45, file_note_desc(regions, page_size, word)))
    out += [_note(owner, ntype, desc) for owner, ntype, desc in extra]
    return b"".join(out)


def write_core(
    out: BinaryIO, *, machine: int, regions: Sequence[Region],
    notes: Callable[[CoreLayout], bytes | Iterable[bytes | bytearray]], page_size: int,
    read: Callable[[int, int], bytes],
    wanted: Mapping[int, Sequence[tuple[int, int]]],
    zeros: Mapping[int, Sequence[tuple[int, int]]] | None = None,
    word: int = 8,
) -> CoreLayout:  # fmt: skip
    """Write the core to ``out`` (seekable); ``read(addr, n)`` gives a region's bytes.

    ``wanted`` maps a region's start to the (first page, pages) runs to read, ascending;
    a region not in it saves nothing.  ``zeros`` maps a region's start to runs known to
    hold zeros without being read (never-touched private anonymous pages): holes in the
    file, saved all the same.  ``read`` raising :class:`MemlensError` leaves the
    pages it covers unsaved.  ``notes(layout)`` gives the note segment once the bytes
    are written (bytes, or chunks written in turn: a pages note is encoded only when
    its turn comes, so one is in memory at a time).
    """
    phnum = 1 + len(regions)
    if phnum >= 0xFFFF:
        raise MemlensError(f"{len(regions)} regions: more than an ELF core header can count")
    # ELF64, or ELF32 (52-byte header, 32-byte program headers: p_flags after p_memsz)
    ehsize, phentsize = (64, 56) if word == 8 else (52, 32)
    headers = ehsize + phentsize * phnum
    layout = CoreLayout()
    pos = _align(headers, page_size)
    loads = []
    for r in regions:
        runs = _copy_runs(out, r, pos, read, page_size, wanted.get(r.start, ()))
        layout.saved[r.start] = sum(n for _, n in runs) * page_size
        runs = _merge(runs, (zeros or {}).get(r.start, ()))
        saved = min(r.size, (runs[-1][0] + runs[-1][1]) * page_size) if runs else 0
        layout.runs[r.start] = runs
        flags = (4 if r.perms.read else 0) | (2 if r.perms.write else 0) | (
            1 if r.perms.execute else 0)  # fmt: skip
        loads.append(_phdr(word, 1, flags, pos, r.start, saved, r.size, page_size))
        pos = _align(pos + saved, page_size)
    body = notes(layout)
    out.seek(pos)
    size = 0
    for chunk in [body] if isinstance(body, (bytes, bytearray)) else body:
        out.write(chunk)
        size += len(chunk)
    phdrs = [_phdr(word, 4, 0, pos, 0, size, 0, 4), *loads]
    ident = b"\x7fELF" + bytes([2 if word == 8 else 1]) + b"\x01\x01" + b"\0" * 9
    x = "Q" if word == 8 else "I"
    ehdr = ident + struct.pack(f"<HHI{x}{x}{x}IHHHHHH", 4, machine, 1, 0, ehsize, 0, 0, ehsize,
                               phentsize, phnum, 0, 0, 0)  # fmt: skip
    out.seek(0)
    out.write(ehdr + b"".join(phdrs))
    out.truncate(pos + size)
    layout.size = pos + size
    return layout


def _phdr(word: int, ptype: int, flags: int, offset: int, vaddr: int, filesz: int,
          memsz: int, align: int) -> bytes:
    if word == 8:
        return struct.pack("<IIQQQQQQ", ptype, flags, offset, vaddr, 0, filesz, memsz, align)
    return struct.pack("<IIIIIIII", ptype, offset, vaddr, 0, filesz, memsz, flags, align)


def _copy_runs(out: BinaryIO, region: Region, pos: int, read: Callable[[int, int], bytes],
               page: int, runs: Sequence[tuple[int, int]]) -> Runs:  # fmt: skip
    """Copy the wanted pages of ``region`` to ``pos`` + their offset; the pages really read."""
    done: Runs = []
    limit = -(-region.size // page)
    for first, count in runs:
        count = min(count, limit - first)
        at = first
        while at < first + count:
            n = min(CHUNK // page, first + count - at)
            try:
                data = read(region.start + at * page, n * page)
            except MemlensError:
                # part of the chunk may still be readable: keep its readable pages
                data = _readable_pages(read, region.start + at * page, n, page)
            got = len(data) // page
            if got:
                chunk = data[: got * page]
                if chunk != _ZERO[: len(chunk)]:
                    out.seek(pos + at * page)
                    out.write(chunk)
                _extend(done, at, got)
            at += got + 1 if got < n else n  # skip the page that failed
    return done


def _merge(a: Runs, b: Sequence[tuple[int, int]]) -> Runs:
    """The union of two lists of runs, as ascending runs (neighbours joined)."""
    out: Runs = []
    for first, count in sorted([*a, *b]):
        if out and first <= out[-1][0] + out[-1][1]:
            end = max(out[-1][0] + out[-1][1], first + count)
            out[-1] = (out[-1][0], end - out[-1][0])
        else:
            out.append((first, count))
    return out


def _extend(runs: Runs, first: int, count: int) -> None:
    if runs and runs[-1][0] + runs[-1][1] == first:
        runs[-1] = (runs[-1][0], runs[-1][1] + count)
    else:
        runs.append((first, count))


def _readable_pages(read: Callable[[int, int], bytes], addr: int, pages: int, page: int) -> bytes:
    """The readable prefix, page by page, of ``pages`` pages at ``addr``."""
    out = bytearray()
    for i in range(pages):
        try:
            out += read(addr + i * page, page)
        except MemlensError:
            break
    return bytes(out)


def _align(n: int, page: int) -> int:
    return (n + page - 1) // page * page

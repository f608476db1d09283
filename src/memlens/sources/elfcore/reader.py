"""ELF core files (kernel cores, gdb ``gcore``, ESP-IDF, ``memlens snapshot``).

Opening is lazy: the file is mapped, headers and notes are parsed, and
PT_LOAD contents are read only when an address is.  ``[vaddr, vaddr+filesz)``
of each PT_LOAD is data; ``[vaddr+filesz, vaddr+memsz)`` was not saved
(``coredump_filter``) and reads of it raise.  Segments past the end of a
truncated file are clipped, with a warning saying how much is missing.

NT_FILE mappings that no PT_LOAD covers (gdb ``gcore`` leaves out unmodified
file text) are regions with unknown permissions (``---p``) and nothing saved.

Overlapping PT_LOADs: the first in file order wins, later ones keep only
their uncovered parts (with a warning).  Zero-size PT_LOADs are ignored.  A
segment that wraps past the top of the address space is clipped at the top.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memlens.core import crash
from memlens.core.addrspace import AddressSpace, ByteOrder, Segment
from memlens.core.backing import BufferBacking
from memlens.core.crash import CrashInfo
from memlens.core.ids import elf_debug_id
from memlens.core.module import Module
from memlens.core.pages import PageTable
from memlens.core.rangemap import Overlap, RangeMap
from memlens.core.region import Perms, Region, RegionKind, kind_from_name
from memlens.core.snapshot import Arch, Snapshot, Thread
from memlens.errors import FormatError
from memlens.sources.elfcore import elf, fpregs, image, netbsd, notes, pagenote
from memlens.sources.elfcore.registers import RegSet, regset
from memlens.sources.options import OpenOptions

NAME = "elfcore"
DELETED = " (deleted)"


@dataclass(slots=True)
class _Facts:
    """What the notes say, gathered while iterating them."""

    word: int
    prefix: str
    arch: str
    prstatus: list[notes.PrStatus] = field(default_factory=list)
    prpsinfo: notes.PrPsInfo | None = None
    auxv: dict[int, int] = field(default_factory=dict)
    siginfo: notes.SigInfo | None = None
    files: notes.FileNote | None = None
    listing: list[dict[str, Any]] = field(default_factory=list)
    memlens_info: dict[str, Any] | None = None
    page_notes: dict[int, pagenote.PageNote] = field(default_factory=dict)
    #: thread id -> its floating-point / vector registers (the note after its NT_PRSTATUS)
    fp_registers: dict[int, dict[str, int]] = field(default_factory=dict)
    netbsd: netbsd.ProcInfo | None = None
    netbsd_lwps: dict[int, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _on_prstatus(f: _Facts, n: notes.Note) -> None:
    st = notes.parse_prstatus(n.desc, f.word, f.prefix, f.arch)
    if st is None:
        f.warnings.append(f"NT_PRSTATUS at {n.offset:#x} is too short ({len(n.desc)} bytes)")
    else:
        f.prstatus.append(st)


def _on_prpsinfo(f: _Facts, n: notes.Note) -> None:
    f.prpsinfo = notes.parse_prpsinfo(n.desc, f.word, f.prefix)
    if f.prpsinfo is None:
        f.warnings.append(f"NT_PRPSINFO of {len(n.desc)} bytes has no known layout; kept raw")


def _on_auxv(f: _Facts, n: notes.Note) -> None:
    f.auxv = notes.parse_auxv(n.desc, f.word, f.prefix)


def _on_siginfo(f: _Facts, n: notes.Note) -> None:
    # gdb's gcore writes one NT_SIGINFO after each thread's NT_PRSTATUS (the others hold
    # the SIGSTOP gdb stopped them with); the first belongs to the thread that dumped.
    if f.siginfo is None:
        f.siginfo = notes.parse_siginfo(n.desc, f.word, f.prefix)


def _on_file(f: _Facts, n: notes.Note) -> None:
    f.files = notes.parse_file_note(n.desc, f.word, f.prefix)
    if f.files is None:
        f.warnings.append(f"NT_FILE at {n.offset:#x} is malformed; region names unknown")


def _on_memlens_info(f: _Facts, n: notes.Note) -> None:
    try:
        f.memlens_info = pagenote.decode_info(n.desc)
    except pagenote.PageNoteError as e:
        f.warnings.append(f"MEMLENS note at {n.offset:#x}: {e}")


def _on_memlens_pages(f: _Facts, n: notes.Note) -> None:
    try:
        page = pagenote.decode_pages(n.desc)
    except pagenote.PageNoteError as e:
        f.warnings.append(f"MEMLENS note at {n.offset:#x}: {e}")
        return
    f.page_notes.setdefault(page.start, page)


def _on_fpregs(f: _Facts, n: notes.Note) -> None:
    if not f.prstatus:
        return
    decoded = fpregs.decode_fp(f.arch, n.owner, n.type, n.desc, f.prefix)
    if decoded is not None:
        f.fp_registers.setdefault(f.prstatus[-1].pid, {}).update(decoded)


def _on_netbsd(f: _Facts, n: notes.Note) -> None:
    f.netbsd = netbsd.parse_procinfo(n.desc, f.prefix)


#: (owner, type) -> what to do with the note; anything else is listed raw
DECODERS: dict[tuple[str, int], Callable[[_Facts, notes.Note], None]] = {
    ("CORE", notes.NT_PRSTATUS): _on_prstatus,
    ("CORE", notes.NT_PRPSINFO): _on_prpsinfo,
    ("CORE", notes.NT_AUXV): _on_auxv,
    ("CORE", notes.NT_SIGINFO): _on_siginfo,
    ("CORE", notes.NT_FILE): _on_file,
    ("CORE", fpregs.NT_FPREGSET): _on_fpregs,
    ("LINUX", fpregs.NT_PRXFPREG): _on_fpregs,
    (netbsd.OWNER, netbsd.NT_PROCINFO): _on_netbsd,
    (pagenote.OWNER, pagenote.NT_MEMLENS_INFO): _on_memlens_info,
    (pagenote.OWNER, pagenote.NT_MEMLENS_PAGES): _on_memlens_pages,
}


class ElfCore(Snapshot):
    """An ELF core; serves per-page state when the core came from ``memlens snapshot``."""

    def __init__(self, *, mapping: mmap.mmap | None, backing: BufferBacking,
                 page_notes: dict[int, pagenote.PageNote],
                 unavailable: dict[int, dict[str, str]],
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self._mmap = mapping
        self._backing = backing
        self._page_notes = page_notes
        self._unavailable = unavailable

    @property
    def has_residency(self) -> bool:
        return bool(self._page_notes)

    def page_table(self, region: Region) -> PageTable | None:
        note = self._page_notes.get(region.start)
        if note is None:
            return None
        pages = -(-region.size // note.page_size)
        if note.npages != pages:
            raise FormatError(self.source, None, f"MEMLENS page note for {region.start:#x} "
                              f"lists {note.npages} pages; the region has {pages}")  # fmt: skip
        try:
            return note.table(self._unavailable.get(region.start, {}))
        except pagenote.PageNoteError as e:
            raise FormatError(self.source, None, f"MEMLENS page note: {e}") from None

    def close(self) -> None:
        if self._mmap is None:
            return
        self._page_notes = {}  # their descriptions are views of the mapping
        try:
            self._backing.release()
            self._mmap.close()
        except BufferError:
            pass  # arrays handed out still view the file; the mapping goes with them
        self._mmap = None


def load(path: str, options: OpenOptions) -> Snapshot:
    """Open an ELF core.

    Raises:
        FormatError: not an ELF core, or its headers are unusable.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise FormatError(path, 0, "empty file")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    try:
        return _load(path, mm, size)
    except (struct.error, ValueError, OverflowError, IndexError) as e:
        mm.close()
        raise FormatError(path, None, f"corrupt ELF core: {e}") from None
    except BaseException:
        mm.close()
        raise


def _load(path: str, mm: mmap.mmap, size: int) -> ElfCore:
    hdr = elf.parse_header(mm, path)
    warnings: list[str] = []
    phdrs = elf.parse_program_headers(mm, hdr, path, warnings)
    facts = _Facts(hdr.word_size, hdr.prefix, hdr.arch_name, warnings=warnings)
    for ph in phdrs:
        if ph.type != elf.PT_NOTE or ph.offset >= size:
            continue
        data = memoryview(mm)[ph.offset : min(size, ph.offset + ph.filesz)]
        if len(data) < ph.filesz:
            warnings.append(f"PT_NOTE at {ph.offset:#x} is cut by the end of the file")
        align = 8 if ph.align == 8 else 4
        for note in notes.iter_notes(data, ph.offset, align, hdr.prefix, warnings):
            facts.listing.append(notes.summarize(note))
            handler = DECODERS.get((note.owner, note.type))
            if handler is not None:
                handler(facts, note)
            elif note.type == netbsd.PT_GETREGS and (lwp := netbsd.lwp_id(note.owner)):
                facts.netbsd_lwps[lwp] = netbsd.decode_regs(facts.arch, note.desc, facts.prefix)

    backing = BufferBacking(mm)
    regions, segments = _memory(phdrs, hdr, size, backing, facts, warnings)
    # The first NT_PRSTATUS is the thread that dumped; a memlens snapshot has no crash.
    signal = _signal(facts, facts.prstatus[0].pid if facts.prstatus else None)
    dumped_by_crash = facts.memlens_info is None and _is_crash(signal)
    regs = regset(hdr.arch_name)
    threads = [
        Thread(tid=st.pid, registers=st.registers, crashed=i == 0 and dumped_by_crash,
               pc_reg=regs.pc if regs else None, sp_reg=regs.sp if regs else None,
               fp_reg=regs.fp if regs else None)
        for i, st in enumerate(facts.prstatus)
    ]  # fmt: skip
    if not threads and facts.netbsd is not None:
        threads, signal = _netbsd_threads(facts, regs)
        dumped_by_crash = _is_crash(signal)
    regions = _memlens_names(regions, facts.memlens_info)
    order: ByteOrder = "little" if hdr.byteorder == "little" else "big"
    space = AddressSpace(_name_stacks(regions, threads), _in_order(segments),
                         word_size=hdr.word_size, byteorder=order,
                         overlap=Overlap.KEEP_FIRST)  # fmt: skip
    if space.segments.conflicts:
        lost = sum(c.end - c.start for c in space.segments.conflicts)
        warnings.append(f"PT_LOAD segments overlap: {len(space.segments.conflicts)} spans "
                        f"({lost} bytes) of later segments ignored, the first wins")  # fmt: skip
    info = facts.memlens_info or {}
    unavailable = info.get("unavailable") if isinstance(info.get("unavailable"), dict) else {}
    per_region = {
        int(k): {str(a): str(b) for a, b in v.items()}
        for k, v in (unavailable or {}).items()
        if isinstance(v, dict) and str(k).isdigit()
    }
    ps = facts.prpsinfo
    return ElfCore(
        mapping=mm,
        backing=backing,
        page_notes=facts.page_notes,
        unavailable=per_region,
        format=NAME,
        source=path,
        space=space,
        arch=Arch(hdr.arch_name, hdr.word_size, hdr.byteorder),
        threads=threads,
        modules=_all_modules(facts, space),
        pid=ps.pid if ps else (facts.netbsd.pid if facts.netbsd else
                               (threads[0].tid if threads else None)),
        command_line=(ps.psargs or ps.fname or None) if ps else (
            facts.netbsd.name or None if facts.netbsd else None),
        crash=signal if dumped_by_crash else None,
        page_size=_page_size(facts),
        warnings=warnings,
        extra=_extra(hdr, facts, signal),
    )


def _memory(
    phdrs: list[elf.ProgramHeader], hdr: elf.ElfHeader, size: int, backing: BufferBacking,
    facts: _Facts, warnings: list[str],
) -> tuple[list[Region], list[Segment]]:  # fmt: skip
    top = 1 << (8 * hdr.word_size)
    files = sorted(facts.files.mappings, key=lambda m: m.start) if facts.files else []
    file_starts = [m.start for m in files]
    regions: list[Region] = []
    segments: list[Segment] = []
    missing = clipped = empty = wrapped = 0
    for ph in phdrs:
        if ph.type != elf.PT_LOAD:
            continue
        if ph.memsz == 0:
            empty += 1
            continue
        start, end = ph.vaddr, ph.vaddr + ph.memsz
        if end > top:
            wrapped += 1
            end = top
        saved = min(ph.filesz, end - start)
        if ph.filesz > ph.memsz:
            warnings.append(f"PT_LOAD at {start:#x}: filesz {ph.filesz:#x} > memsz "
                            f"{ph.memsz:#x}; only memsz bytes used")  # fmt: skip
        in_file = max(0, min(saved, size - ph.offset))
        if in_file < saved:
            missing += saved - in_file
            clipped += 1
        pieces = _saved_pieces(facts, start, end, in_file, ph.offset, backing)
        if pieces is not None:
            segments += pieces
            regions.append(_region(start, end, ph.flags, files, file_starts))
            continue
        if in_file:
            segments.append(Segment(start, start + in_file, backing, ph.offset))
        if start + in_file < end:
            segments.append(Segment(start + in_file, end, None))
        regions.append(_region(start, end, ph.flags, files, file_starts))
    regions += _file_only_regions(files, regions, segments)
    if missing:
        warnings.append(f"file is truncated: {clipped} PT_LOAD segments lose {missing} bytes "
                        f"({missing / (1 << 20):.1f} MiB) past its end at {size:#x}; "
                        "those bytes read as not saved")  # fmt: skip
    if empty:
        warnings.append(f"{empty} zero-size PT_LOAD segments ignored")
    if wrapped:
        warnings.append(f"{wrapped} PT_LOAD segments wrap past the top of the address space; "
                        "clipped at the top")  # fmt: skip
    return regions, segments


def _saved_pieces(facts: _Facts, start: int, end: int, in_file: int, offset: int,
                  backing: BufferBacking) -> list[Segment] | None:  # fmt: skip
    """A ``memlens snapshot`` region's segments from its note's saved runs (pages it did
    not read are holes in the PT_LOAD, not zeros); ``None`` without such a note."""
    note = facts.page_notes.get(start)
    if note is None:
        return None
    try:
        return pagenote.saved_segments(note, end, in_file, offset, backing)
    except pagenote.PageNoteError as e:
        facts.warnings.append(f"MEMLENS page note for {start:#x}: {e}; its PT_LOAD is read "
                              "as saved up to filesz")  # fmt: skip
        return None


def _in_order(segments: list[Segment]) -> list[Segment]:
    """Segments sorted by address when none overlap (the range map then builds in linear
    time even if a core lists its PT_LOADs out of order); in file order otherwise, since
    then the first in the file must win."""
    ordered = sorted(segments, key=lambda s: s.start)
    if all(a.end <= b.start for a, b in itertools.pairwise(ordered)):
        return ordered
    return segments


def _file_only_regions(files: list[notes.FileMapping], regions: list[Region],
                       segments: list[Segment]) -> list[Region]:  # fmt: skip
    """NT_FILE mappings no PT_LOAD covers (gdb ``gcore`` leaves out unmodified file text).

    They were mapped, so they are regions; their permissions are unknown (``---p``) and none
    of their bytes are saved.
    """
    loads = sorted((r.start, r.end) for r in regions)
    starts = [s for s, _ in loads]
    out = []
    for m in files:
        i = bisect.bisect_left(starts, m.end)
        if i > 0 and loads[i - 1][1] > m.start:
            continue  # overlaps a PT_LOAD: named through it
        deleted = m.path.endswith(DELETED)
        path = m.path[: -len(DELETED)] if deleted else m.path
        out.append(Region(m.start, m.end, Perms(False, False, False), m.offset, m.path,
                          RegionKind.FILE, path, deleted))  # fmt: skip
        segments.append(Segment(m.start, m.end, None))
    return out


def _region(start: int, end: int, flags: int, files: list[notes.FileMapping],
            starts: list[int]) -> Region:  # fmt: skip
    perms = Perms(bool(flags & elf.PF_R), bool(flags & elf.PF_W), bool(flags & elf.PF_X))
    i = bisect.bisect_right(starts, start) - 1
    if i >= 0 and files[i].start <= start < files[i].end:
        m = files[i]
        deleted = m.path.endswith(DELETED)
        path = m.path[: -len(DELETED)] if deleted else m.path
        return Region(start, end, perms, m.offset + start - m.start, m.path, RegionKind.FILE,
                      path, deleted)  # fmt: skip
    return Region(start, end, perms, 0, "", RegionKind.UNKNOWN)


def _memlens_names(regions: list[Region], info: dict[str, Any] | None) -> list[Region]:
    """Names of non-file regions a ``memlens snapshot`` recorded (``[heap]``, ``[stack]``)."""
    names = (info or {}).get("names")
    if not isinstance(names, dict):
        return regions
    out = []
    for r in regions:
        name = names.get(str(r.start))
        if isinstance(name, str) and not r.name:
            r = Region(r.start, r.end, r.perms, r.offset, name, kind_from_name(name))
        out.append(r)
    return out


def _name_stacks(regions: list[Region], threads: list[Thread]) -> list[Region]:
    """Name each unnamed region holding a thread's stack pointer ``[stack:TID]``."""
    named: dict[int, str] = {}
    by_address = RangeMap(((r.start, r.end, r) for r in regions), Overlap.KEEP_FIRST)
    for t in threads:
        sp = t.sp
        found = by_address.find(sp) if sp is not None else None
        hit = found[2] if found is not None else None
        if hit is not None and not hit.name and hit.start not in named:
            named[hit.start] = f"[stack:{t.tid}]"
    return [
        Region(r.start, r.end, r.perms, r.offset, named[r.start], kind_from_name(named[r.start]))
        if r.start in named and not r.name else r
        for r in regions
    ]  # fmt: skip


def _modules(files: notes.FileNote | None, space: AddressSpace) -> list[Module]:
    """One module per NT_FILE path: lowest start to highest end; build id when saved."""
    if files is None:
        return []
    spans: dict[str, tuple[int, int, notes.FileMapping]] = {}
    for m in files.mappings:
        lo, hi, lowest = spans.get(m.path, (m.start, m.end, m))
        spans[m.path] = (min(lo, m.start), max(hi, m.end), m if m.start < lowest.start else lowest)
    out = []
    for path, (lo, hi, lowest) in spans.items():
        clean = path[: -len(DELETED)] if path.endswith(DELETED) else path
        # The headers are at the base only when the lowest mapping starts at file offset 0.
        found = image.image_at(space, lo) if lowest.offset == 0 else None
        build_id = found.build_id(space) if found is not None else None
        out.append(Module(clean, lo, hi, build_id=build_id))
    return sorted(out, key=lambda m: m.base)


def _netbsd_threads(facts: _Facts, regs: RegSet | None) -> tuple[list[Thread], CrashInfo | None]:
    """A NetBSD core's LWPs (from the ``NetBSD-CORE@<lwpid>`` notes) and its signal; the
    LWP the signal hit (``cpi_siglwp``, version 2) is the crashed one, else the first."""
    info = facts.netbsd
    assert info is not None
    tids = list(facts.netbsd_lwps) or list(range(1, max(info.nlwps, 0) + 1))[:4096]
    hit = info.siglwp if info.siglwp in tids else (tids[0] if tids else None)
    sig = None
    if info.signo:
        sig = CrashInfo(hit, info.signo, info.sigcode, None,
                        crash.describe_signal(info.signo, info.sigcode), os="netbsd")  # fmt: skip
    crashed = _is_crash(sig) and sig is not None
    threads = [Thread(tid, registers=facts.netbsd_lwps.get(tid, {}), crashed=crashed and tid == hit,
                      pc_reg=regs.pc if regs else None, sp_reg=regs.sp if regs else None,
                      fp_reg=regs.fp if regs else None) for tid in tids]  # fmt: skip
    if crashed:
        threads.sort(key=lambda t: not t.crashed)
    return threads, sig


def _all_modules(facts: _Facts, space: AddressSpace) -> list[Module]:
    """NT_FILE's modules, else the loader's link map, else ELF headers at region starts;
    and the vdso, which no file backs, always."""
    modules = _modules(facts.files, space)
    if not modules:
        modules = image.from_link_map(space, facts.auxv)
    if not modules and facts.memlens_info is None:
        modules = image.from_headers(space, [r.start for r in space.regions])
    vdso = image.vdso(space, facts.auxv)
    if vdso is not None and not any(m.base <= vdso.base < m.end for m in modules):
        modules.append(vdso)
    # Breakpad's debug id and the code id follow from the build id (core/ids.py).
    modules = [dataclasses.replace(m, debug_id=elf_debug_id(m.build_id),
                                   code_id=m.build_id.hex()) if m.build_id else m
               for m in modules]  # fmt: skip
    return sorted(modules, key=lambda m: m.base)


def _signal(facts: _Facts, tid: int | None) -> CrashInfo | None:
    """The signal the dumping thread had: NT_SIGINFO, else its NT_PRSTATUS ``pr_cursig``."""
    si = facts.siginfo
    if si is not None and si.signo:
        return CrashInfo(tid, si.signo, si.code, si.address,
                         crash.describe_signal(si.signo, si.code), os="linux",
                         sender_pid=si.sender_pid, sender_uid=si.sender_uid)  # fmt: skip
    if facts.prstatus and facts.prstatus[0].cursig:
        sig = facts.prstatus[0].cursig
        return CrashInfo(tid, sig, None, None, crash.describe_signal(sig, None), os="linux")
    return None


def _is_crash(info: CrashInfo | None) -> bool:
    """A signal whose default action dumps core: the kernel wrote this core for a crash.

    gdb ``gcore`` of a stopped process records SIGSTOP (or the stop signal): that is not a
    crash.  A core with no signal at all (ESP-IDF, old gdb) keeps the convention that its
    first thread is the one that dumped.
    """
    return info is None or info.signal in crash.CORE_SIGNALS


def _page_size(facts: _Facts) -> int:
    # gdb writes NT_FILE's page size as 1 (offsets in bytes): only real page sizes count.
    for candidate in (facts.auxv.get(6, 0), facts.files.page_size if facts.files else 0):
        if candidate >= 512 and candidate & (candidate - 1) == 0:
            return candidate
    return 4096


def _extra(hdr: elf.ElfHeader, facts: _Facts, sig: CrashInfo | None) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "elf_class": 32 if hdr.elf_class == 1 else 64,
        "e_machine": hdr.machine,
        "notes": facts.listing,
    }
    if facts.auxv:
        extra["auxv"] = facts.auxv
    if facts.files is not None:
        extra["nt_file"] = facts.files.mappings
    ps = facts.prpsinfo
    if ps is not None:
        extra["prpsinfo"] = {"pid": ps.pid, "ppid": ps.ppid, "pgrp": ps.pgrp, "sid": ps.sid,
                             "uid": ps.uid, "gid": ps.gid, "fname": ps.fname,
                             "psargs": ps.psargs}  # fmt: skip
    if facts.memlens_info is not None:
        extra["memlens"] = facts.memlens_info
    if facts.fp_registers:
        extra["fp_registers"] = facts.fp_registers
    if sig is not None and not _is_crash(sig):
        extra["stop_signal"] = sig.description
    return extra

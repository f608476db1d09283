"""``memlens snapshot``: a live process written as an ELF core with its page state.

The threads are stopped (ptrace seize + interrupt) only while registers, page
tables and memory are copied, and resumed in ``finally`` whatever happens.
The core carries the standard notes gdb needs and MEMLENS notes holding each
region's pagemap entries (and kpageflags/kpagecount when readable), so
residency and page flags survive offline.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memlens import __version__
from memlens.core.pages import BIT_PRESENT, PageTable
from memlens.errors import MemlensError, TargetError
from memlens.sources.elfcore import pagenote
from memlens.sources.elfcore.writer import (
    EM_BY_ARCH,
    CoreLayout,
    ProcessFacts,
    ThreadState,
    build_notes,
    note_head,
    write_core,
)
from memlens.sources.live.maps import is_private_anonymous
from memlens.sources.live.process import LiveProcess, open_process
from memlens.sources.live.ptrace_stop import StoppedThreads
from memlens.sources.options import OpenOptions

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: size of elf_gregset_t per arch (what NT_PRSTATUS pr_reg holds)
#: bytes of the general registers PTRACE_GETREGSET gives, as elf_prstatus holds them (an
#: i386 program on an x86_64 kernel gets i386's 17 words)
GREGSET_SIZE = {"x86_64": 27 * 8, "aarch64": 34 * 8, "i386": 17 * 4}


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    path: str
    regions: int
    saved_bytes: int
    file_size: int
    threads: int
    registers: str  # "saved" or why not
    page_tables: int
    seconds: float


def process_facts(pid: int) -> ProcessFacts:
    """Ids, state and names of ``pid`` from /proc.

    Raises:
        TargetError: the process is gone or unreadable.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("utf-8", "replace")
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError as e:
        raise TargetError(pid, f"cannot read /proc/{pid}: {e.strerror}") from None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return ProcessFacts(
        pid=pid, ppid=int(fields[1]), pgrp=int(fields[2]), sid=int(fields[3]),
        uid=int(status["Uid"].split()[0]), gid=int(status["Gid"].split()[0]),
        state=fields[0], comm=comm, args=args, nice=int(fields[16]),
    )  # fmt: skip


def _auxv(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/auxv", "rb") as f:
            return f.read()
    except OSError:
        return b""


def snapshot_process(pid: int, path: str, *, stop: bool = True) -> SnapshotReport:
    """Write ``pid`` to ``path`` as an ELF core (via a temporary file, renamed at the end).

    Raises:
        TargetError: the process cannot be read.
        MemlensError: the arch is not supported or the file cannot be written.
    """
    began = time.monotonic()
    with open_process(pid, OpenOptions()) as opened:
        assert isinstance(opened, LiveProcess)
        snap = opened
        arch = snap.arch.name if snap.arch else "unknown"
        if arch not in EM_BY_ARCH or arch not in GREGSET_SIZE:
            raise MemlensError(f"memlens snapshot supports x86_64, i386 and aarch64, not {arch}")
        facts = process_facts(pid)
        freezer = StoppedThreads(pid) if stop else None
        with freezer if freezer is not None else contextlib.nullcontext():
            report = _write(snap, facts, arch, path, freezer)
    return SnapshotReport(**{**report, "seconds": time.monotonic() - began})  # type: ignore[arg-type]


def _write(snap: LiveProcess, facts: ProcessFacts, arch: str, path: str,
           freezer: StoppedThreads | None) -> dict[str, object]:  # fmt: skip
    tids = sorted((t.tid for t in snap.threads), key=lambda t: (t != facts.pid, t))
    threads = [ThreadState(t, (freezer.registers(t) if freezer else None) or b"") for t in tids]
    got = sum(1 for t in threads if t.registers)
    if freezer is None:
        registers = "not saved: --no-stop"
    elif got == len(threads):
        registers = "saved"
    else:
        registers = f"saved for {got} of {len(threads)} threads ({freezer.problem or 'unreadable'})"
    regions = list(snap.regions)
    tables: list[PageTable | None] = [t for _, t in snap.iter_page_tables(regions)]
    table_count = sum(t is not None for t in tables)
    # Only pages present in pagemap are read: reading any other page through
    # process_vm_readv or /proc/PID/mem faults it in (a never-touched MAP_SHARED
    # page is allocated, a swapped one read back, a private one mapped to the
    # zero page), which changes the target.
    wanted = {r.start: present_runs(t) for r, t in zip(regions, tables, strict=True)
              if t is not None and r.perms.read}  # fmt: skip
    # never-touched pages of private anonymous memory hold zeros: saved as holes, unread
    zeros = {r.start: untouched_runs(t) for r, t in zip(regions, tables, strict=True)
             if t is not None and r.perms.read and is_private_anonymous(r)}  # fmt: skip
    # per region: what the page table could not know (PFNs without CAP_SYS_ADMIN, no
    # pagemap above the task size...)
    unavailable = {str(t.start): t.unavailable for t in tables if t is not None and t.unavailable}
    info = {"memlens_version": __version__, "pid": facts.pid, "time": time.time(),
            "unavailable": unavailable, "registers": registers,
            # NT_FILE names only file mappings: keep [heap], [stack], [anon:...] too.
            "names": {str(r.start): r.name for r in regions if r.name and not r.path}}  # fmt: skip
    owner = pagenote.OWNER.encode()
    page = snap.page_size
    word = snap.space.word_size

    def notes(layout: CoreLayout) -> Iterator[bytes | bytearray]:
        # each region's pages note is encoded when its turn comes: one in memory at a time
        info_note = (owner, pagenote.NT_MEMLENS_INFO, pagenote.encode_info(info))
        yield build_notes(facts, threads, regions, page, _auxv(facts.pid), GREGSET_SIZE[arch],
                          [info_note], word)  # fmt: skip
        for i, (r, t) in enumerate(zip(regions, tables, strict=True)):
            if t is None:
                continue
            size, pieces = pagenote.iter_pages_note(t, -(-r.size // page),
                                                    layout.runs.get(r.start, []))  # fmt: skip
            yield note_head(owner, pagenote.NT_MEMLENS_PAGES, size)
            yield from pieces
            yield b"\0" * (-size % 4)
            tables[i] = None  # done with it

    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as out:
            layout = write_core(out, machine=EM_BY_ARCH[arch], regions=regions, notes=notes,
                                page_size=page, read=snap.memory.read_present,
                                wanted=wanted, zeros=zeros, word=word)  # fmt: skip
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise MemlensError(f"{path}: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return {"path": path, "regions": len(regions), "saved_bytes": sum(layout.saved.values()),
            "file_size": layout.size, "threads": len(threads), "registers": registers,
            "page_tables": table_count}  # fmt: skip


def present_runs(table: PageTable) -> list[tuple[int, int]]:
    """(first page, pages) of each run of pages pagemap shows present (bit 63)."""
    import numpy as np

    return _runs((table.entries >> np.uint64(BIT_PRESENT)).astype(np.int8))


def untouched_runs(table: PageTable) -> list[tuple[int, int]]:
    """(first page, pages) of each run of pages neither present nor swapped (bits 63, 62)."""
    import numpy as np

    if "pagemap" in table.unavailable:
        return []
    return _runs(((table.entries >> np.uint64(62)) == 0).astype(np.int8))


def _runs(marks: npt.NDArray[np.int8]) -> list[tuple[int, int]]:
    import numpy as np

    edges = np.flatnonzero(np.diff(np.concatenate(([0], marks, [0]))))
    return [(int(a), int(b - a)) for a, b in edges.reshape(-1, 2)]

"""Bulk reads of ``/proc/PID/pagemap``, ``/proc/kpagecount`` and ``/proc/kpageflags``.

One ``pread`` per region for pagemap (bounded chunks for huge regions), and one
``pread`` per run of nearby PFNs for the kpage files -- never one read per page
(ptexplore's 8-byte reads cost ~2.3 s for 135k pages; these ~30 ms).  The reads
run in :mod:`memlens._pagewalk` (C, GIL released) into raw uint64 buffers: no
numpy on this path (see that module for why).
"""

from __future__ import annotations

import errno
import functools
import os

from memlens import _pagewalk
from memlens.core.pages import PageTable
from memlens.core.region import Region
from memlens.errors import ProcessGoneError, TargetError
from memlens.sources.live.pid import process_alive

# not typing.TYPE_CHECKING: typing is ~3 ms of `maps PID --json` (memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from memlens.core.pages import U64Data

ENTRY = 8
#: pages per pagemap read
MAX_PAGES_PER_READ = 1 << 21
#: regions with more pages are not scanned page by page (64 GiB of 4 KiB pages:
#: 128 MiB of entries, as much again for each kpage* file, 24 bytes a PFN run)
MAX_TABLE_PAGES = 1 << 24
#: PFNs closer than this are read in one kpage* request: an entry costs the
#: kernel ~0.09 us, a pread ~0.35 us more; on a fragmented 512 MiB process
#: (131k PFNs) kpageflags took 13.5 ms at 8, 14.0 at 1, 14.5 at 16, 16.5 at 32
PFN_GAP_MERGE = 8

CAP_SYS_ADMIN = 21
#: user space never reaches the upper half of a 64-bit address space
KERNEL_HALF = 1 << 63


#: ``PageTable.unavailable["soft_dirty"]`` when the kernel does not track it
NO_SOFT_DIRTY = "the kernel does not track soft-dirty pages (no CONFIG_MEM_SOFT_DIRTY)"


@functools.cache
def soft_dirty_supported() -> bool:
    """Whether the kernel tracks soft-dirty bits, without writing to any clear_refs.

    A new mapping carries VM_SOFTDIRTY, so pagemap shows a page of it as
    soft-dirty exactly when the kernel has CONFIG_MEM_SOFT_DIRTY: memlens maps
    and writes one page of its own and reads that page's entry (~20 us; the
    VmFlags of /proc/self/smaps say the same, but reading them cost ~10 ms).
    Never the target's pages: it may have cleared its bits.
    """
    try:
        entry = _pagewalk.self_pagemap_entry()
    except OSError:
        return True  # cannot tell: report the bits as read
    return entry is not None and bool(entry >> 55 & 1)


def has_cap_sys_admin() -> bool:
    """Whether this process holds CAP_SYS_ADMIN (needed for PFNs and kpage* files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except OSError:
        pass
    return False


#: ``PageTable.partial`` when the process exited while its pages were read
EXITED = "the process exited during the scan"
#: ``PageTable.unavailable["pagemap"]`` for regions pagemap has no entries for
ABOVE_TASK_SIZE = "above the task size: the kernel keeps no page table entries here"


def read_entries(fd: int, pid: int, region: Region, page_size: int) -> tuple[bytearray, str | None]:
    """Pagemap entries of ``region`` (native uint64s) and, when fewer than its pages, why.

    The reason is :data:`EXITED` or :data:`ABOVE_TASK_SIZE`.

    Raises:
        TargetError: pagemap refused the read for another reason.
    """
    first = region.start // page_size
    count = (region.end - region.start + page_size - 1) // page_size
    data, err = _pagewalk.pagemap_read(fd, first, count, MAX_PAGES_PER_READ)
    if err:
        if err == errno.ESRCH or not process_alive(pid):
            return data, EXITED
        raise TargetError(pid, f"pagemap: {os.strerror(err)}")
    done = len(data) // ENTRY
    if done < count:
        # End of file: either the range lies above the task size (only the
        # kernel half, e.g. [vsyscall]), or the mm is gone -- which can
        # happen while the task is not yet a zombie (exit_mm runs first).
        if (first + done) * page_size >= KERNEL_HALF and process_alive(pid):
            return data, ABOVE_TASK_SIZE
        return data, EXITED
    return data, None


def kpage_spans(pfns: U64Data) -> list[tuple[int, int]]:
    """The reads :func:`read_kpage` makes for ``pfns``: (first PFN, entries) per ``pread``."""
    return _pagewalk.kpage_spans(pfns, PFN_GAP_MERGE)


def read_kpage(path: str, pfns: U64Data) -> memoryview:
    """Values of ``/proc/kpage{count,flags}`` for each PFN (any order, repeats allowed).

    PFNs past the end of the file read as 0.  The result is a ``memoryview`` of
    uint64 (``tolist()``, or ``numpy.frombuffer`` for an array).

    Raises:
        PermissionError / OSError: the file cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        return memoryview(_pagewalk.kpage_read(fd, pfns, PFN_GAP_MERGE)).cast("Q")
    finally:
        os.close(fd)


class PagemapReader:
    """Reads page tables of one process's regions, and kpage* data when allowed."""

    def __init__(self, pid: int, page_size: int, *, privileged: bool | None = None) -> None:
        self.pid = pid
        self.page_size = page_size
        self.privileged = has_cap_sys_admin() if privileged is None else privileged
        try:
            self._fd: int | None = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
        except (FileNotFoundError, ProcessLookupError):
            # ESRCH: the process is exiting (its /proc entry is still there)
            raise ProcessGoneError(pid, "no such process") from None
        except PermissionError:
            raise TargetError(pid, "no permission to read /proc/PID/pagemap") from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def table(self, region: Region, *, with_kpage: bool = True) -> PageTable:
        """Page table of one region (with kpagecount and kpageflags when ``with_kpage``)."""
        assert self._fd is not None
        pages = (region.end - region.start + self.page_size - 1) // self.page_size
        if pages > MAX_TABLE_PAGES:
            # a dense table (8 bytes a page, and as much again per kpage file) of a huge
            # reservation -- V8's 1 TiB sandbox, ASan's shadow -- would exhaust
            # memory: say so instead of trying
            table = PageTable(region.start, self.page_size, b"")
            table.unavailable["pagemap"] = (
                f"too large for a per-page table ({pages} pages, more than {MAX_TABLE_PAGES});"
                " not scanned"
            )
            return table
        entries, short = read_entries(self._fd, self.pid, region, self.page_size)
        table = PageTable(region.start, self.page_size, entries)
        if not soft_dirty_supported():
            table.unavailable["soft_dirty"] = NO_SOFT_DIRTY
        if short == ABOVE_TASK_SIZE and len(entries) == 0:
            table.unavailable["pagemap"] = short
        elif short is not None:
            table.partial = short
        if not self.privileged:
            reason = "needs CAP_SYS_ADMIN (run as root)"
            table.unavailable.update(pfn=reason, count=reason, flags=reason)
            return table
        if with_kpage:
            self.add_kpage([table])
        return table

    def add_kpage(self, tables: list[PageTable], *, counts: bool = True) -> None:
        """Fill flags (and counts) of present pages, for several tables in one pass.

        The PFNs of all tables are sorted and read in spans once, not per table.
        """
        if not self.privileged:
            return
        raw = [t.entries_raw for t in tables]
        if _pfns_hidden(raw):
            reason = "the kernel hides PFNs from this process"
            for t in tables:
                t.unavailable.update(pfn=reason, count=reason, flags=reason)
            return
        files = {"flags": "/proc/kpageflags"}
        if counts:
            files["count"] = "/proc/kpagecount"
        else:
            for t in tables:
                t.unavailable["count"] = "not read"
        fds: dict[str, int] = {}
        try:
            for key, path in files.items():
                try:
                    fds[key] = os.open(path, os.O_RDONLY)
                except OSError as e:
                    for t in tables:
                        t.unavailable[key] = f"{path}: {e.strerror}"
            # one file after the other, in C with the GIL released: two threads
            # were no faster on 2 cores (the kernel's work per entry dominates)
            results = _pagewalk.kpage_fill(raw, list(fds.values()), PFN_GAP_MERGE)
        finally:
            for fd in fds.values():
                os.close(fd)
        for key, result in zip(fds, results, strict=True):
            if isinstance(result, int):
                for t in tables:
                    t.unavailable[key] = f"{files[key]}: {os.strerror(result)}"
                continue
            for t, values in zip(tables, result, strict=True):
                if key == "count":
                    t.counts = values
                else:
                    t.flags = values


def _pfns_hidden(tables: list[U64Data]) -> bool:
    """Whether present pages exist and every one of them shows PFN 0.

    (Without CAP_SYS_ADMIN in the target's user namespace the kernel zeroes
    the PFN field: then there is nothing to look up in the kpage* files.)
    """
    present, with_pfn = _pagewalk.pfn_census(tables)
    return present > 0 and with_pfn == 0


__all__ = [
    "ABOVE_TASK_SIZE",
    "EXITED",
    "NO_SOFT_DIRTY",
    "PagemapReader",
    "has_cap_sys_admin",
    "kpage_spans",
    "process_alive",
    "read_entries",
    "read_kpage",
    "soft_dirty_supported",
]

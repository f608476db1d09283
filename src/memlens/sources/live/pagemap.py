"""Bulk reads of ``/proc/PID/pagemap``, ``/proc/kpagecount`` and ``/proc/kpageflags``.

One ``pread`` per region for pagemap (bounded chunks for huge regions), and one
``pread`` per run of nearby PFNs for the kpage files -- never one read per page
(ptexplore's 8-byte reads cost ~2.3 s for 135k pages; these ~30 ms).
"""

from __future__ import annotations

import errno
import os

import numpy as np
import numpy.typing as npt

from memlens.core.pages import PFN_MASK, PageTable
from memlens.core.region import Region
from memlens.errors import ProcessGoneError, TargetError

ENTRY = 8
#: pages per pagemap read; bounds memory for huge (reserved) regions
MAX_PAGES_PER_READ = 1 << 21
#: PFNs closer than this are read in one kpage* request (reading a few extra
#: entries is cheaper than another syscall)
PFN_GAP_MERGE = 64

CAP_SYS_ADMIN = 21


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


def read_entries(
    fd: int, pid: int, region: Region, page_size: int
) -> tuple[npt.NDArray[np.uint64], str | None]:
    """Pagemap entries of ``region`` and, when fewer than its pages, why.

    Raises:
        ProcessGoneError: the process exited before anything was read.
    """
    first = region.start // page_size
    count = (region.end - region.start + page_size - 1) // page_size
    out = np.empty(count, dtype=np.uint64)
    done = 0
    while done < count:
        want = min(count - done, MAX_PAGES_PER_READ)
        try:
            raw = os.pread(fd, want * ENTRY, (first + done) * ENTRY)
        except OSError as e:
            if e.errno == errno.ESRCH:
                return out[:done], "the process exited during the scan"
            raise TargetError(pid, f"pagemap: {e.strerror}") from None
        got = len(raw) // ENTRY
        out[done : done + got] = np.frombuffer(raw, dtype="<u8", count=got)
        done += got
        if got < want:
            if not os.path.exists(f"/proc/{pid}"):
                return out[:done], "the process exited during the scan"
            # pagemap stops at the task size ([vsyscall] lies above it)
            return out[:done], "above the task size: the kernel has no page table entries here"
    return out, None


def _spans(pfns: npt.NDArray[np.uint64]) -> list[tuple[int, int]]:
    """Sorted unique PFNs grouped into ``(first, count)`` read spans."""
    if len(pfns) == 0:
        return []
    breaks = np.nonzero(np.diff(pfns) > PFN_GAP_MERGE)[0]
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(pfns) - 1]))
    return [(int(pfns[s]), int(pfns[e] - pfns[s]) + 1) for s, e in zip(starts, ends, strict=True)]


def read_kpage(path: str, pfns: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Values of ``/proc/kpage{count,flags}`` for each PFN (any order, repeats allowed).

    Raises:
        PermissionError / OSError: the file cannot be opened or read.
    """
    unique = np.unique(pfns)
    values = np.zeros(len(unique), dtype=np.uint64)
    fd = os.open(path, os.O_RDONLY)
    try:
        for first, count in _spans(unique):
            raw = os.pread(fd, count * ENTRY, first * ENTRY)
            got = len(raw) // ENTRY
            span = np.frombuffer(raw, dtype="<u8", count=got)
            lo = np.searchsorted(unique, first)
            hi = np.searchsorted(unique, first + got)
            values[lo:hi] = span[(unique[lo:hi] - np.uint64(first)).astype(np.int64)]
    finally:
        os.close(fd)
    return values[np.searchsorted(unique, pfns)]


class PagemapReader:
    """Reads page tables of one process's regions, and kpage* data when allowed."""

    def __init__(self, pid: int, page_size: int, *, privileged: bool | None = None) -> None:
        self.pid = pid
        self.page_size = page_size
        self.privileged = has_cap_sys_admin() if privileged is None else privileged
        try:
            self._fd: int | None = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
        except FileNotFoundError:
            raise ProcessGoneError(pid, "no such process") from None
        except PermissionError:
            raise TargetError(pid, "no permission to read /proc/PID/pagemap") from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def table(self, region: Region, *, with_kpage: bool = True) -> PageTable:
        assert self._fd is not None
        entries, partial = read_entries(self._fd, self.pid, region, self.page_size)
        table = PageTable(region.start, self.page_size, entries, partial=partial)
        if not self.privileged:
            reason = "needs CAP_SYS_ADMIN (run as root)"
            table.unavailable = {"pfn": reason, "count": reason, "flags": reason}
            return table
        if with_kpage:
            self.add_kpage([table])
        return table

    def add_kpage(self, tables: list[PageTable]) -> None:
        """Fill counts and flags of present pages, for several tables in one pass."""
        if not self.privileged:
            return
        pfns_per = [t.pfn[t.present] for t in tables]
        allpfn = np.concatenate(pfns_per) if pfns_per else np.empty(0, dtype=np.uint64)
        if len(allpfn) and not allpfn.any():
            reason = "the kernel hides PFNs from this process"
            for t in tables:
                t.unavailable = {"pfn": reason, "count": reason, "flags": reason}
            return
        results: dict[str, npt.NDArray[np.uint64] | str] = {}
        for key, path in (("count", "/proc/kpagecount"), ("flags", "/proc/kpageflags")):
            try:
                results[key] = read_kpage(path, allpfn)
            except OSError as e:
                results[key] = f"{path}: {e.strerror}"
        offset = 0
        for t, pf in zip(tables, pfns_per, strict=True):
            mask = t.present
            for key in ("count", "flags"):
                value = results[key]
                if isinstance(value, str):
                    t.unavailable[key] = value
                    continue
                full = np.zeros(len(t.entries), dtype=np.uint64)
                full[mask] = value[offset : offset + len(pf)]
                if key == "count":
                    t.counts = full
                else:
                    t.flags = full
            offset += len(pf)


__all__ = ["PFN_MASK", "PagemapReader", "has_cap_sys_admin", "read_entries", "read_kpage"]

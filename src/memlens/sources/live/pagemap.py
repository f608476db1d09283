"""Bulk reads of ``/proc/PID/pagemap``, ``/proc/kpagecount`` and ``/proc/kpageflags``.

One ``pread`` per region for pagemap (bounded chunks for huge regions), and one
``pread`` per run of nearby PFNs for the kpage files -- never one read per page
(ptexplore's 8-byte reads cost ~2.3 s for 135k pages; these ~30 ms).
"""

from __future__ import annotations

import errno
import functools
import itertools
import os

import numpy as np
import numpy.typing as npt

from memlens.core.pages import PFN_MASK, PageTable
from memlens.core.region import Region
from memlens.errors import ProcessGoneError, TargetError

ENTRY = 8
#: pages per pagemap read
MAX_PAGES_PER_READ = 1 << 21
#: regions with more pages are not scanned page by page (64 GiB of 4 KiB pages:
#: 128 MiB of entries, ~0.5 GiB at peak with the decoded arrays)
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
    import ctypes  # numpy has imported it already
    import mmap

    try:
        with mmap.mmap(-1, mmap.PAGESIZE) as page:
            page[0] = 1
            cell = ctypes.c_char.from_buffer(page)
            address = ctypes.addressof(cell)
            del cell  # the buffer must be released before the mapping closes
            fd = os.open("/proc/self/pagemap", os.O_RDONLY)
            try:
                raw = os.pread(fd, ENTRY, address // mmap.PAGESIZE * ENTRY)
            finally:
                os.close(fd)
    except OSError:
        return True  # cannot tell: report the bits as read
    return len(raw) == ENTRY and bool(int.from_bytes(raw, "little") >> 55 & 1)


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


def process_alive(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie has no memory left to read.

    (pagemap of a process whose mm is gone reads as end-of-file, exactly like
    a range above the task size, so the two are told apart here.)
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # the state follows the last ')' (the command name may contain ')')
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X", b"x", b"")


def read_entries(
    fd: int, pid: int, region: Region, page_size: int
) -> tuple[npt.NDArray[np.uint64], str | None]:
    """Pagemap entries of ``region`` and, when fewer than its pages, why.

    The reason is :data:`EXITED` or :data:`ABOVE_TASK_SIZE`.

    Raises:
        TargetError: pagemap refused the read for another reason.
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
            if e.errno == errno.ESRCH or not process_alive(pid):
                return out[:done], EXITED
            raise TargetError(pid, f"pagemap: {e.strerror}") from None
        got = len(raw) // ENTRY
        out[done : done + got] = np.frombuffer(raw, dtype="<u8", count=got)
        done += got
        if got < want:
            # End of file: either the range lies above the task size (only the
            # kernel half, e.g. [vsyscall]), or the mm is gone -- which can
            # happen while the task is not yet a zombie (exit_mm runs first).
            if (first + done) * page_size >= KERNEL_HALF and process_alive(pid):
                return out[:done], ABOVE_TASK_SIZE
            return out[:done], EXITED
    return out, None


class PfnSet:
    """PFNs of some pages as read spans of a kpage* file, and where each one's entry lands.

    PFNs closer than :data:`PFN_GAP_MERGE` share a span; the spans' entries,
    read one ``pread`` each and concatenated, hold PFN ``pfns[i]``'s entry at
    ``slot[i]``.  Built once and shared by the kpagecount and kpageflags reads.
    """

    def __init__(self, pfns: npt.NDArray[np.uint64]) -> None:
        self.pfns = pfns
        n = len(pfns)
        # sort-based on purpose: numpy >= 2.3's hash-based np.unique took
        # 60-90 ms for 131k PFNs here, an argsort 3 ms
        order = np.argsort(pfns)
        ordered = pfns[order]
        new_span = np.empty(n, dtype=np.bool_)
        new_span[:1] = True
        np.greater(np.diff(ordered), np.uint64(PFN_GAP_MERGE), out=new_span[1:])
        starts = np.flatnonzero(new_span)
        firsts = ordered[starts]
        lasts = ordered[np.append(starts[1:], n) - 1] if n else firsts
        sizes = (lasts - firsts + np.uint64(1)).astype(np.intp)
        # entry of PFN p of span s lands at p - firsts[s] + (entries before s)
        shift = np.cumsum(sizes) - sizes - firsts.astype(np.intp)
        span_of = np.cumsum(new_span, dtype=np.intp) - 1
        self.slot = np.empty(n, dtype=np.intp)
        self.slot[order] = ordered.astype(np.intp) + shift[span_of]
        self.total = int(sizes.sum())
        self.read_sizes: list[int] = (sizes * ENTRY).tolist()
        self.read_offsets: list[int] = (firsts * np.uint64(ENTRY)).tolist()


def read_kpage(path: str, pfns: npt.NDArray[np.uint64] | PfnSet) -> npt.NDArray[np.uint64]:
    """Values of ``/proc/kpage{count,flags}`` for each PFN (any order, repeats allowed).

    PFNs past the end of the file read as 0.

    Raises:
        PermissionError / OSError: the file cannot be opened or read.
    """
    pset = pfns if isinstance(pfns, PfnSet) else PfnSet(pfns)
    fd = os.open(path, os.O_RDONLY)
    try:
        # map() runs the loop of preads in C: no bytecode per span
        chunks = list(map(os.pread, itertools.repeat(fd), pset.read_sizes, pset.read_offsets))
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) != pset.total * ENTRY:
        # a span ran past the end of the file (a PFN above the last page
        # frame, e.g. of a device mapping): its missing entries read as 0
        data = b"".join(c.ljust(size, b"\0")
                        for c, size in zip(chunks, pset.read_sizes, strict=True))  # fmt: skip
    result: npt.NDArray[np.uint64] = (
        np.frombuffer(data, dtype="<u8").astype(np.uint64, copy=False)[pset.slot]
    )
    return result


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
        """Page table of one region (with kpagecount and kpageflags when ``with_kpage``)."""
        assert self._fd is not None
        pages = (region.end - region.start + self.page_size - 1) // self.page_size
        if pages > MAX_TABLE_PAGES:
            # a dense table (8 bytes a page, plus numpy temporaries) of a huge
            # reservation -- V8's 1 TiB sandbox, ASan's shadow -- would exhaust
            # memory: say so instead of trying
            table = PageTable(region.start, self.page_size, np.empty(0, dtype=np.uint64))
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
        present = [t.entries >= np.uint64(1 << 63) for t in tables]
        mask = np.uint64(PFN_MASK)
        pfns_per = [t.entries[p] & mask for t, p in zip(tables, present, strict=True)]
        allpfn = np.concatenate(pfns_per) if pfns_per else np.empty(0, dtype=np.uint64)
        if len(allpfn) and not allpfn.any():
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

        pset = PfnSet(allpfn)

        def fetch(path: str) -> npt.NDArray[np.uint64] | str:
            try:
                return read_kpage(path, pset)
            except OSError as e:
                return f"{path}: {e.strerror}"

        # one file after the other: two threads were no faster on 2 cores at
        # load ~2.6 (30 ms either way for 131k PFNs), and 20-50% slower at
        # load 5-9: the GIL changes hands around every ~1 us pread
        results = {key: fetch(path) for key, path in files.items()}
        offset = 0
        for t, where, pf in zip(tables, present, pfns_per, strict=True):
            for key, value in results.items():
                if isinstance(value, str):
                    t.unavailable[key] = value
                    continue
                full = np.zeros(len(t.entries), dtype=np.uint64)
                full[where] = value[offset : offset + len(pf)]
                if key == "count":
                    t.counts = full
                else:
                    t.flags = full
            offset += len(pf)


__all__ = [
    "ABOVE_TASK_SIZE",
    "EXITED",
    "NO_SOFT_DIRTY",
    "PFN_MASK",
    "PagemapReader",
    "has_cap_sys_admin",
    "process_alive",
    "read_entries",
    "read_kpage",
    "soft_dirty_supported",
]

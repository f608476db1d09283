"""A live process as a :class:`~memlens.core.snapshot.Snapshot`."""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.pages import PageTable
from memlens.core.region import Region
from memlens.core.snapshot import Arch, Snapshot, Thread
from memlens.errors import ProcessGoneError, TargetError
from memlens.sources.live.maps import is_private_anonymous, parse_maps
from memlens.sources.live.memory import FilePlace, ProcessMemory
from memlens.sources.live.pagemap import PagemapReader, process_alive
from memlens.sources.live.pagetables import page_tables
from memlens.sources.live.pid import machine_of
from memlens.sources.live.procfs import read_proc_text
from memlens.sources.options import OpenOptions

if TYPE_CHECKING:
    from memlens.sources.live.freeze import Freezer

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _threads(pid: int) -> list[Thread]:
    threads = []
    try:
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().rstrip("\n")
        except OSError:
            name = None
        threads.append(Thread(tid=tid, name=name))
    return threads


def _arch(pid: int) -> Arch:
    return Arch(*machine_of(pid))


def _private_anonymous(regions: list[Region]) -> Callable[[int], bool]:
    """Whether an address lies in private anonymous memory, where a page never touched
    reads as zeros (``[heap]``, ``[stack]``, unnamed and ``[anon:...]`` mappings)."""
    spans = sorted((r.start, r.end) for r in regions if is_private_anonymous(r))
    starts = [a for a, _ in spans]

    def inside(address: int) -> bool:
        i = bisect.bisect_right(starts, address) - 1
        return i >= 0 and address < spans[i][1]

    return inside


def _file_pages(pid: int, regions: list[Region]) -> Callable[[int], FilePlace | None]:
    """Where a page of a regular file's mapping is in the file: the very file mapped
    (``/proc/PID/map_files/START-END``), at the mapping's offset."""
    spans = sorted((r.start, r.end, r) for r in regions if r.path and r.inode)
    starts = [a for a, _, _ in spans]

    def place(address: int) -> FilePlace | None:
        i = bisect.bisect_right(starts, address) - 1
        if i < 0 or address >= spans[i][1]:
            return None
        start, end, r = spans[i]
        assert r.path is not None
        paths = (f"/proc/{pid}/map_files/{start:x}-{end:x}", *(() if r.deleted else (r.path,)))
        return paths, r.inode, r.offset + address - start

    return place


class LiveProcess(Snapshot):
    """A running process, read in place.  Nothing here stops or writes to it."""

    def __init__(self, pid: int, options: OpenOptions) -> None:
        self.freezer: Freezer | None = None
        if options.freeze:
            from memlens.sources.live.freeze import Freezer  # signals and threads: only then

            self.freezer = Freezer(pid)
            self.freezer.stop()
        try:
            self._open(pid, options)
        except BaseException:
            self.close()
            raise

    def _open(self, pid: int, options: OpenOptions) -> None:
        self._pagemap: PagemapReader | None = None
        regions = parse_maps(read_proc_text(pid, "maps"), f"/proc/{pid}/maps")
        if not regions and not process_alive(pid):
            raise ProcessGoneError(pid, "has exited (a zombie): no memory left to read")
        self.memory = ProcessMemory(pid, _private_anonymous(regions), _file_pages(pid, regions))
        arch = _arch(pid)
        space = AddressSpace(
            regions,
            [Segment(r.start, r.end, self.memory, r.start) for r in regions],
            word_size=arch.word_size,
            byteorder="big" if arch.byteorder == "big" else "little",
        )
        cmdline = read_proc_text(pid, "cmdline").rstrip("\0").replace("\0", " ")
        super().__init__(
            format="live",
            source=str(pid),
            space=space,
            arch=arch,
            threads=_threads(pid),
            pid=pid,
            command_line=cmdline or None,
            page_size=PAGE_SIZE,
        )
        self.options = options
        if self.freezer is not None and self.freezer.note:
            self.warnings.append(f"--freeze: {self.freezer.note}")

    @property
    def has_residency(self) -> bool:
        return True

    def pagemap(self) -> PagemapReader:
        if self._pagemap is None:
            self._pagemap = PagemapReader(self.pid or 0, self.page_size)
        return self._pagemap

    def page_table(self, region: Region) -> PageTable | None:
        return self.pagemap().table(region)

    def iter_page_tables(
        self, regions: list[Region], *, counts: bool = True, kpage: bool = True
    ) -> Iterator[tuple[Region, PageTable | None]]:
        yield from page_tables(self.pagemap(), regions, counts=counts, kpage=kpage)

    def close(self) -> None:
        """Release the /proc files; resume the process when --freeze stopped it."""
        try:
            if getattr(self, "memory", None) is not None:
                self.memory.close()
            if getattr(self, "_pagemap", None) is not None:
                assert self._pagemap is not None
                self._pagemap.close()
                self._pagemap = None
        finally:
            if self.freezer is not None:
                self.freezer.resume()


def open_process(pid: int, options: OpenOptions) -> LiveProcess:
    """Open a live process by PID.

    Raises:
        TargetError: no such process, or no permission.
    """
    if not os.path.exists(f"/proc/{pid}"):
        raise TargetError(pid, "no such process")
    return LiveProcess(pid, options)

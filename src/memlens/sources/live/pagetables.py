"""A live process's regions and page tables, without opening it as a snapshot.

``memlens pages PID`` needs the mappings (``/proc/PID/maps``) and the pagemap
and kpage* reads of :class:`~memlens.sources.live.pagemap.PagemapReader`, not
the address space, threads and memory reader of
:class:`~memlens.sources.live.process.LiveProcess` -- nor the model classes and
dataclasses those import (start-up that would put ``pages --summary`` behind
page-types; see memlens/core/frozen.py).  Both read page tables through
:func:`page_tables`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import TracebackType

from memlens.core.region import Region
from memlens.errors import ProcessGoneError, TargetError
from memlens.sources.live.maps import parse_maps
from memlens.sources.live.pagemap import PagemapReader
from memlens.sources.live.pid import machine_of, process_alive
from memlens.sources.live.procfs import read_proc_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memlens.core.pages import PageTable


def page_tables(reader: PagemapReader, regions: list[Region], *, counts: bool = True,
                kpage: bool = True) -> Iterator[tuple[Region, PageTable | None]]:  # fmt: skip
    """Each region's page table: pagemap per region, then the kpage* files for all of
    them in one pass (``kpage``; kpagecount too with ``counts``)."""
    tables = [reader.table(r, with_kpage=False) for r in regions]
    if kpage:
        reader.add_kpage(tables, counts=counts)
    else:
        for t in tables:
            t.unavailable.setdefault("flags", "not read")
            t.unavailable.setdefault("count", "not read")
    yield from zip(regions, tables, strict=True)


class LivePageTables:
    """The regions of process ``pid`` and their page tables (what a scan needs)."""

    format = "live"
    has_residency = True

    def __init__(self, pid: int) -> None:
        if not os.path.exists(f"/proc/{pid}"):
            raise TargetError(pid, "no such process")
        self.pid = pid
        self.source = str(pid)
        self.page_size = os.sysconf("SC_PAGE_SIZE")
        maps = read_proc_bytes(pid, "maps").decode("utf-8", "surrogateescape")
        self.regions: list[Region] = parse_maps(maps, f"/proc/{pid}/maps")
        if not self.regions and not process_alive(pid):
            raise ProcessGoneError(pid, "has exited (a zombie): no memory left to read")
        self.word_size = machine_of(pid)[1]
        self._reader = PagemapReader(pid, self.page_size)

    def iter_page_tables(
        self, regions: list[Region], *, counts: bool = True, kpage: bool = True
    ) -> Iterator[tuple[Region, PageTable | None]]:
        return page_tables(self._reader, regions, counts=counts, kpage=kpage)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> LivePageTables:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

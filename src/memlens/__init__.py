"""memlens: what is in a process's memory, whether it is resident, and who put it there.

Open any target -- a live PID, an ELF core, a minidump, a raw RAM dump, a
memdump text file -- as one :class:`~memlens.core.snapshot.Snapshot`::

    import memlens
    with memlens.open(1234) as snap:
        for region in snap.regions:
            print(region.label(), hex(region.start))
"""

from __future__ import annotations

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.pages import PageTable
from memlens.core.rangemap import Overlap, RangeMap
from memlens.core.region import Perms, Region, RegionKind
from memlens.core.snapshot import Arch, CrashInfo, Module, Snapshot, Thread
from memlens.errors import (
    AddressError,
    FormatError,
    MemlensError,
    ProcessGoneError,
    TargetError,
    UsageError,
)
from memlens.sources.options import OpenOptions
from memlens.sources.registry import open_target as open

__version__ = "0.1.0"

__all__ = [
    "AddressError",
    "AddressSpace",
    "Arch",
    "CrashInfo",
    "FormatError",
    "MemlensError",
    "Module",
    "OpenOptions",
    "Overlap",
    "PageTable",
    "Perms",
    "ProcessGoneError",
    "RangeMap",
    "Region",
    "RegionKind",
    "Segment",
    "Snapshot",
    "TargetError",
    "Thread",
    "UsageError",
    "__version__",
    "open",
]

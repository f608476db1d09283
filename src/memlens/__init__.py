"""memlens: what is in a process's memory, whether it is resident, and who put it there.

Open any target -- a live PID, an ELF core, a minidump, a raw RAM dump, a
memdump text file -- as one :class:`~memlens.core.snapshot.Snapshot`::

    import memlens
    with memlens.open(1234) as snap:
        for region in snap.regions:
            print(region.label(), hex(region.start))

The names below are imported on first use: ``import memlens`` (and so every
``memlens`` command) does not pay for numpy before it needs it, which lets the
command line set up the process first (see :mod:`memlens.cli.main`).
"""

from __future__ import annotations

from memlens.errors import (
    AddressError,
    FormatError,
    MemlensError,
    ProcessGoneError,
    TargetError,
    UsageError,
)

# not typing.TYPE_CHECKING: importing typing is ~10 ms of every command's start;
# mypy treats any name TYPE_CHECKING as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from memlens.core.addrspace import AddressSpace, Segment
    from memlens.core.crash import CrashInfo
    from memlens.core.module import Module
    from memlens.core.pages import PageTable
    from memlens.core.rangemap import Overlap, RangeMap
    from memlens.core.region import Perms, Region, RegionKind
    from memlens.core.snapshot import Arch, Snapshot, Thread
    from memlens.sources.options import OpenOptions
    from memlens.targets import open_target as open

__version__ = "0.1.0"

#: public name -> (module, attribute), imported on first access
_LAZY: dict[str, tuple[str, str]] = {
    "AddressSpace": ("memlens.core.addrspace", "AddressSpace"),
    "Segment": ("memlens.core.addrspace", "Segment"),
    "PageTable": ("memlens.core.pages", "PageTable"),
    "Overlap": ("memlens.core.rangemap", "Overlap"),
    "RangeMap": ("memlens.core.rangemap", "RangeMap"),
    "Perms": ("memlens.core.region", "Perms"),
    "Region": ("memlens.core.region", "Region"),
    "RegionKind": ("memlens.core.region", "RegionKind"),
    "Arch": ("memlens.core.snapshot", "Arch"),
    "CrashInfo": ("memlens.core.crash", "CrashInfo"),
    "Module": ("memlens.core.module", "Module"),
    "Snapshot": ("memlens.core.snapshot", "Snapshot"),
    "Thread": ("memlens.core.snapshot", "Thread"),
    "OpenOptions": ("memlens.sources.options", "OpenOptions"),
    "open": ("memlens.targets", "open_target"),
}


def __getattr__(name: str) -> Any:
    import importlib  # here: importing it (and the warnings it loads) is ~1 ms of every start
    if name not in _LAZY:
        # ``memlens.core...`` after a bare ``import memlens``, as when it imported them all
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'memlens' has no attribute {name!r}") from None
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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

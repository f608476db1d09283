"""A mapped range of a target's address space."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class RegionKind(enum.Enum):
    """What a region holds, as far as its source can tell."""

    FILE = "file"
    ANON = "anon"
    HEAP = "heap"
    STACK = "stack"
    VDSO = "vdso"
    VVAR = "vvar"
    VSYSCALL = "vsyscall"
    SPECIAL = "special"  # other bracketed kernel names ([uprobes], [anon:...] is ANON)
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Perms:
    """Access permissions; ``shared`` is the ``s``/``p`` column of maps."""

    read: bool = True
    write: bool = False
    execute: bool = False
    shared: bool = False

    @classmethod
    def parse(cls, text: str) -> Perms:
        """Parse the ``rwxp`` column of ``/proc/PID/maps`` (or ``r-x``, ``rw``)."""
        padded = (text + "----")[:4]
        return cls(
            read=padded[0] == "r",
            write=padded[1] == "w",
            execute=padded[2] == "x",
            shared=padded[3] == "s",
        )

    def __str__(self) -> str:
        return (
            ("r" if self.read else "-")
            + ("w" if self.write else "-")
            + ("x" if self.execute else "-")
            + ("s" if self.shared else "p")
        )


@dataclass(frozen=True, slots=True)
class Region:
    """A mapped range ``[start, end)`` with its permissions and origin.

    ``name`` is what the source calls the region (a path, ``[heap]``,
    ``[anon:zygote]``); ``path`` is set only for file mappings and has the
    kernel's `` (deleted)`` suffix removed (``deleted`` records it).
    """

    start: int
    end: int
    perms: Perms = Perms()
    offset: int = 0
    name: str = ""
    kind: RegionKind = RegionKind.UNKNOWN
    path: str | None = None
    deleted: bool = False
    inode: int = 0
    device: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"region end {self.end:#x} is below start {self.start:#x}")

    @property
    def size(self) -> int:
        return self.end - self.start

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end

    def with_name(self, name: str, path: str | None = None) -> Region:
        kind = RegionKind.FILE if path else self.kind
        return replace(self, name=name, path=path, kind=kind)

    def label(self) -> str:
        """Name for display: the name, or ``anonymous`` when there is none."""
        return self.name or "anonymous"


def kind_from_name(name: str) -> RegionKind:
    """Classify a region by the name ``/proc/PID/maps`` gives it."""
    if not name:
        return RegionKind.ANON
    if name.startswith("/"):
        return RegionKind.FILE
    if name == "[heap]":
        return RegionKind.HEAP
    if name == "[stack]" or name.startswith("[stack:"):
        return RegionKind.STACK
    if name == "[vdso]":
        return RegionKind.VDSO
    if name == "[vvar]" or name.startswith("[vvar"):
        return RegionKind.VVAR
    if name == "[vsyscall]":
        return RegionKind.VSYSCALL
    if name.startswith("[anon:") or name.startswith("[anon_shmem:"):
        return RegionKind.ANON
    if name.startswith("[") and name.endswith("]"):
        return RegionKind.SPECIAL
    # memfd:, /dev/zero (deleted) without a slash, SYSV segments...
    return RegionKind.FILE if " (deleted)" in name or name.startswith("memfd:") else RegionKind.ANON

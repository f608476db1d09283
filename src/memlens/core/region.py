"""A mapped range of a target's address space."""

from __future__ import annotations

import enum

from memlens.core.frozen import Frozen


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


class Perms(Frozen):
    """Access permissions; ``shared`` is the ``s``/``p`` column of maps."""

    __slots__ = ("read", "write", "execute", "shared")  # noqa: RUF023 (Frozen: the fields' order)
    read: bool
    write: bool
    execute: bool
    shared: bool

    def __init__(self, read: bool = True, write: bool = False, execute: bool = False,
                 shared: bool = False) -> None:  # fmt: skip
        setattr_ = object.__setattr__
        setattr_(self, "read", read)
        setattr_(self, "write", write)
        setattr_(self, "execute", execute)
        setattr_(self, "shared", shared)

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


#: the permissions of a region whose source says nothing of them
_READ_ONLY = Perms()


class Region(Frozen):
    """A mapped range ``[start, end)`` with its permissions and origin.

    ``name`` is what the source calls the region (a path, ``[heap]``,
    ``[anon:zygote]``); ``path`` is set only for file mappings and has the
    kernel's `` (deleted)`` suffix removed (``deleted`` records it).
    """


    __slots__ = ("start", "end", "perms", "offset", "name", "kind", "path", "deleted",  # noqa: RUF023
                 "inode", "device")  # fmt: skip
    start: int
    end: int
    perms: Perms
    offset: int
    name: str
    kind: RegionKind
    path: str | None
    deleted: bool
    inode: int
    device: str

    def __init__(self, start: int, end: int, perms: Perms = _READ_ONLY, offset: int = 0,
                 name: str = "", kind: RegionKind = RegionKind.UNKNOWN, path: str | None = None,
                 deleted: bool = False, inode: int = 0, device: str = "") -> None:  # fmt: skip
        if end < start:
            raise ValueError(f"region end {end:#x} is below start {start:#x}")
        setattr_ = object.__setattr__
        setattr_(self, "start", start)
        setattr_(self, "end", end)
        setattr_(self, "perms", perms)
        setattr_(self, "offset", offset)
        setattr_(self, "name", name)
        setattr_(self, "kind", kind)
        setattr_(self, "path", path)
        setattr_(self, "deleted", deleted)
        setattr_(self, "inode", inode)
        setattr_(self, "device", device)

    @property
    def size(self) -> int:
        return self.end - self.start

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end

    def replace(self, *, start: int | None = None, end: int | None = None) -> Region:
        """The same region over another range (a page of it, a piece of it)."""
        return Region(self.start if start is None else start, self.end if end is None else end,
                      self.perms, self.offset, self.name, self.kind, self.path, self.deleted,
                      self.inode, self.device)  # fmt: skip

    def with_name(self, name: str, path: str | None = None) -> Region:
        kind = RegionKind.FILE if path else self.kind
        return Region(self.start, self.end, self.perms, self.offset, name, kind, path,
                      self.deleted, self.inode, self.device)  # fmt: skip

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

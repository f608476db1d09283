"""Parse ``/proc/PID/maps`` exactly as the kernel writes it.

Line format (``fs/proc/task_mmu.c`` show_map_vma)::

    start-end perms offset major:minor inode<padding>pathname

The pathname is everything after the padding: it may contain spaces, end in
`` (deleted)``, be a bracketed kernel name (``[heap]``, ``[anon:name]``,
``[vsyscall]``) or be absent.  The kernel escapes a newline in a path as
``\\012``.
"""

from __future__ import annotations

from memlens.core.region import Perms, Region, RegionKind, kind_from_name
from memlens.errors import FormatError

DELETED = " (deleted)"
#: names maps gives anonymous memory backed by a kernel-internal file
ANON_FILE_NAMES = frozenset({"/dev/zero (deleted)", "/anon_hugepage (deleted)"})


def parse_maps_line(line: str, source: str = "maps", lineno: int = 0) -> Region:
    """One maps line to a :class:`Region`.

    Raises:
        FormatError: the line does not have the kernel's shape.
    """
    parts = line.rstrip("\n").split(None, 5)
    if len(parts) < 5:
        raise FormatError(source, None, f"line {lineno}: expected at least 5 fields: {line!r}")
    try:
        lo, hi = parts[0].split("-", 1)
        start, end = int(lo, 16), int(hi, 16)
        offset = int(parts[2], 16)
        inode = int(parts[4])
    except ValueError:
        raise FormatError(source, None, f"line {lineno}: malformed fields: {line!r}") from None
    if end < start:
        raise FormatError(source, None, f"line {lineno}: end below start: {line!r}")
    name = parts[5].replace("\\012", "\n") if len(parts) == 6 else ""
    deleted = False
    path: str | None = None
    kind = kind_from_name(name)
    if name in ANON_FILE_NAMES:
        # shared anonymous memory (shmem behind MAP_SHARED|MAP_ANONYMOUS or a /dev/zero
        # mapping) and anonymous hugetlb: the kernel names their internal files, which
        # no one can open -- anonymous memory, not a file mapping
        kind = RegionKind.ANON
    elif name.startswith("/") or (inode != 0 and not name.startswith("[")):
        kind = RegionKind.FILE
        path = name
        if path.endswith(DELETED):
            path = path[: -len(DELETED)]
            deleted = True
    return Region(
        start=start,
        end=end,
        perms=Perms.parse(parts[1]),
        offset=offset,
        name=name,
        kind=kind,
        path=path,
        deleted=deleted,
        inode=inode,
        device=parts[3],
    )


def parse_maps(text: str, source: str = "maps") -> list[Region]:
    """Every region of a maps file, in file order."""
    return [
        parse_maps_line(line, source, n)
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]


def is_private_anonymous(region: Region) -> bool:
    """Private anonymous memory (``[heap]``, ``[stack]``, unnamed, ``[anon:...]``): a page
    never touched there reads as zeros (a read would only map the shared zero page)."""
    kinds = (RegionKind.ANON, RegionKind.HEAP, RegionKind.STACK)
    return region.kind in kinds and not region.path and not region.perms.shared

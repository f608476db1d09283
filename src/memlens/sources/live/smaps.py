"""``/proc/PID/smaps`` and ``smaps_rollup``: the kernel's own per-mapping accounting.

Each mapping's block is its maps line, then ``Name:  value kB`` lines (Rss, Pss,
Shared/Private Clean/Dirty, Swap, SwapPss, Locked, AnonHugePages,
Shared/Private_Hugetlb...), a few unitless ones (``THPeligible: 1``,
``ProtectionKey``) and ``VmFlags``.  Which fields appear depends on the kernel
version and configuration, so every field is kept under the kernel's name.
Values here are bytes (the kernel prints kB).

These numbers are what ``pmap -X``, ``smem`` and ``ps`` show: the zero page is
not in Rss, hugetlb pages are in Shared/Private_Hugetlb rather than Rss, and
Pss divides each page by its map count.
"""

from __future__ import annotations

from memlens.core.frozen import Frozen
from memlens.sources.live.procfs import read_proc_bytes

# the region model (and the enum module under it) only for parse_smaps_regions:
# `memlens procs` reads smaps_rollup, which has no maps lines
TYPE_CHECKING = False
if TYPE_CHECKING:
    from memlens.core.region import Region


class Usage(Frozen):
    """One mapping's (or a whole process's) smaps fields, in bytes under the kernel's names.

    ``counts`` holds the unitless fields (``THPeligible``, ``ProtectionKey``).  A usage
    computed from a page table (not from smaps) may hold ``Private`` and ``Shared``
    totals instead of the clean/dirty split, which pagemap cannot tell.
    """

    __slots__ = ("fields", "counts", "vmflags")  # noqa: RUF023 (Frozen: the fields' order)
    fields: dict[str, int]
    counts: dict[str, int]
    vmflags: tuple[str, ...]

    def __init__(self, fields: dict[str, int] | None = None, counts: dict[str, int] | None = None,
                 vmflags: tuple[str, ...] = ()) -> None:  # fmt: skip
        object.__setattr__(self, "fields", {} if fields is None else fields)
        object.__setattr__(self, "counts", {} if counts is None else counts)
        object.__setattr__(self, "vmflags", vmflags)

    def get(self, name: str) -> int:
        """A field in bytes, 0 when this kernel does not print it."""
        return self.fields.get(name, 0)

    @property
    def uss(self) -> int | None:
        """Unique set size: the pages only this process maps (Private_Clean + Private_Dirty)."""
        return self._sum("Private")

    @property
    def shared(self) -> int | None:
        """Shared_Clean + Shared_Dirty."""
        return self._sum("Shared")

    @property
    def dirty(self) -> int | None:
        """Shared_Dirty + Private_Dirty."""
        if "Shared_Dirty" in self.fields and "Private_Dirty" in self.fields:
            return self.fields["Shared_Dirty"] + self.fields["Private_Dirty"]
        return None

    @property
    def hugetlb(self) -> int | None:
        if "Shared_Hugetlb" in self.fields or "Private_Hugetlb" in self.fields:
            return self.get("Shared_Hugetlb") + self.get("Private_Hugetlb")
        return None

    def _sum(self, kind: str) -> int | None:
        """``kind``_Clean + ``kind``_Dirty, or the total alone (``Private``/``Shared``) when
        a page-table source could not tell clean from dirty."""
        clean, dirty = f"{kind}_Clean", f"{kind}_Dirty"
        if clean in self.fields and dirty in self.fields:
            return self.fields[clean] + self.fields[dirty]
        return self.fields.get(kind)


_HEX = frozenset(b"0123456789abcdef")


def _is_header(line: bytes) -> bool:
    """A maps line (``start-end perms ...``) rather than a ``Name: value`` line."""
    dash = line.find(b"-")
    return 0 < dash < line.find(b" ") and line[0] in _HEX


def _blocks(data: bytes) -> list[tuple[bytes, Usage]]:
    """Each mapping's maps line (``b""`` for smaps_rollup's first) and its fields."""
    blocks: list[tuple[bytes, Usage]] = []
    names: dict[bytes, str] = {}  # field names decoded once
    fields: dict[str, int] = {}
    counts: dict[str, int] = {}
    vmflags: list[str] = []
    header = b""
    for line in data.split(b"\n"):
        if not line:
            continue
        if _is_header(line):
            if blocks or fields or counts or header:
                blocks.append((header, Usage(fields, counts, tuple(vmflags))))
            header, fields, counts, vmflags = line, {}, {}, []
            continue
        raw, _, rest = line.partition(b":")
        name = names.get(raw)
        if name is None:
            name = names[raw] = raw.decode("ascii", "replace")
        if name == "VmFlags":
            vmflags += rest.decode("ascii", "replace").split()
            continue
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        if len(parts) == 2 and parts[1] == b"kB":
            fields[name] = int(parts[0]) * 1024
        elif len(parts) == 1:
            counts[name] = int(parts[0])
    if header or fields or counts:
        blocks.append((header, Usage(fields, counts, tuple(vmflags))))
    return blocks


def parse_smaps(text: str | bytes) -> dict[int, Usage]:
    """Usage per mapping start address (``smaps``), or one entry for ``smaps_rollup``."""
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return {int(h[: h.index(b"-")], 16): u for h, u in _blocks(data) if h}


def parse_smaps_regions(data: bytes, source: str = "smaps") -> list[tuple[Region, Usage]]:
    """Every mapping of an ``smaps`` file: its region (from the maps line that heads its
    block, as ``/proc/PID/maps`` gives it) and its fields.

    Raises:
        FormatError: a maps line does not have the kernel's shape.
    """
    from memlens.sources.live.maps import parse_maps_line

    out = []
    for n, (header, usage) in enumerate(_blocks(data), 1):
        if header:
            line = header.decode("utf-8", "surrogateescape")
            out.append((parse_maps_line(line, source, n), usage))
    return out


def read_smaps(pid: int, name: str = "smaps") -> dict[int, Usage]:
    """Parse ``/proc/PID/smaps`` (or ``smaps_rollup``).

    Raises:
        ProcessGoneError: the process exited.
        TargetError: no permission, or the file does not exist (kernels before 4.14 have no
            ``smaps_rollup``).
    """
    return parse_smaps(read_proc_bytes(pid, name))


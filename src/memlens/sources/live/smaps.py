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

from dataclasses import dataclass, field

from memlens.sources.live.procfs import read_proc_text


@dataclass(frozen=True, slots=True)
class Usage:
    """One mapping's (or a whole process's) smaps fields, in bytes under the kernel's names.

    ``counts`` holds the unitless fields (``THPeligible``, ``ProtectionKey``).  A usage
    computed from a page table (not from smaps) may hold ``Private`` and ``Shared``
    totals instead of the clean/dirty split, which pagemap cannot tell.
    """

    fields: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    vmflags: tuple[str, ...] = ()

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


def _is_header(line: str) -> bool:
    """A maps line (``start-end perms ...``) rather than a ``Name: value`` line."""
    dash = line.find("-")
    return 0 < dash < line.find(" ") and line[0] in "0123456789abcdef"


def parse_smaps(text: str) -> dict[int, Usage]:
    """Usage per mapping start address (``smaps``), or one entry for ``smaps_rollup``."""
    blocks: list[tuple[int, dict[str, int], dict[str, int], list[str]]] = []
    for line in text.splitlines():
        if not line:
            continue
        if _is_header(line):
            blocks.append((int(line[: line.index("-")], 16), {}, {}, []))
            continue
        if not blocks:
            continue
        _, fields, counts, vmflags = blocks[-1]
        name, _, rest = line.partition(":")
        if name == "VmFlags":
            vmflags += rest.split()
            continue
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0]) * 1024
        elif len(parts) == 1:
            counts[name] = int(parts[0])
    return {start: Usage(f, c, tuple(v)) for start, f, c, v in blocks}


def read_smaps(pid: int, name: str = "smaps") -> dict[int, Usage]:
    """Parse ``/proc/PID/smaps`` (or ``smaps_rollup``).

    Raises:
        ProcessGoneError: the process exited.
        TargetError: no permission, or the file does not exist (kernels before 4.14 have no
            ``smaps_rollup``).
    """
    return parse_smaps(read_proc_text(pid, name))


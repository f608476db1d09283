"""/proc/PID/smaps and status read directly: the kernel's own accounting, the tests' oracle."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ (\d+)\s*(.*)$")
_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")


@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    path: str
    fields: dict[str, int] = field(default_factory=dict)  # kB, as smaps prints them
    vmflags: list[str] = field(default_factory=list)


def read_smaps(pid: int, name: str = "smaps") -> list[Mapping]:
    out: list[Mapping] = []
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        head = _HEADER.match(line)
        if head:
            lo, hi, perms, _, _, path = head.groups()
            out.append(Mapping(int(lo, 16), int(hi, 16), perms, path))
            continue
        kv = _FIELD.match(line)
        if kv and out:
            out[-1].fields[kv.group(1)] = int(kv.group(2))
        elif line.startswith("VmFlags:") and out:
            out[-1].vmflags = line.split()[1:]
    return out


def vm_rss(pid: int) -> int:
    """VmRSS in kB."""
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert m
    return int(m.group(1))

"""The elfutils multi-architecture cores, unpacked once per session, and eu-readelf's view."""

from __future__ import annotations

import bz2
import re
import subprocess
from pathlib import Path

CORES = {
    "x86_64": "backtrace.x86_64.core", "i386": "backtrace.i386.core",
    "aarch64": "backtrace.aarch64.core", "ppc64": "backtrace.ppc64le.fp.core",
    "s390x": "backtrace.s390x.core", "x32": "backtrace.x32.core",
    "riscv64": "testfile-riscv64-core", "m68k": "testfile-m68k-core",
    "i386-rtlib": "testcore-rtlib",
}  # fmt: skip


def unpack(fixtures: Path, name: str, into: Path) -> Path:
    out = into / name
    if not out.exists():
        out.write_bytes(bz2.decompress((fixtures / "elfcore" / "multiarch" / f"{name}.bz2")
                                       .read_bytes()))  # fmt: skip
    return out


#: a note header line of `eu-readelf -n`: owner, size, type
_NOTE = re.compile(r"^  (\S+)\s+(\d+)\s+(\S+)$")
_PAIR = re.compile(r"([A-Za-z_][\w.]*):\s+(-?(?:0x[0-9a-fA-F]+|\d+))(?![\d.])")


def readelf_prstatus(tool: str, core: Path) -> list[dict[str, int]]:
    """Every NT_PRSTATUS as `eu-readelf -n` prints it: {field or register: value}."""
    text = subprocess.run([tool, "-n", str(core)], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    out: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    for line in text.splitlines():
        head = _NOTE.match(line)
        if head is not None:
            current = {} if head.group(3) == "PRSTATUS" else None
            if current is not None:
                out.append(current)
            continue
        if current is not None:
            for key, value in _PAIR.findall(line):
                current[key] = int(value, 0)
    return out

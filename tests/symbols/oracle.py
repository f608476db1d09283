"""The reference answers: llvm-symbolizer for frames, nm for aliases, c++filt for C++ names.

Written apart from memlens's own name handling (no import from
``memlens.symbols``): the normalisation below is what a reader of both outputs
would do by hand, spelled out independently.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import need_tool

Level = tuple[str | None, str | None, int | None]  # function, file, line


@dataclass
class Answer:
    """llvm-symbolizer's answer for one address, innermost level first."""

    linkage: list[Level]  # --functions=linkage: outermost name from the symbol table
    short: list[Level]  # --functions=short: every name from DWARF (no symbol table)


def _run(path: Path, addresses: list[int], functions: str) -> list[list[Level]]:
    exe = need_tool("llvm-symbolizer")
    text = subprocess.run(
        [exe, f"--obj={path}", "--inlining", "--no-demangle", f"--functions={functions}"],
        input="\n".join(hex(a) for a in addresses) + "\n",
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    out: list[list[Level]] = []
    for block in text.strip("\n").split("\n\n"):
        lines = block.split("\n")
        chain: list[Level] = []
        for func, loc in zip(lines[0::2], lines[1::2], strict=True):
            file, line, _col = loc.rsplit(":", 2)
            chain.append((None if func == "??" else func,
                          None if file == "??" else os.path.normpath(file), int(line) or None))
        out.append(chain)
    assert len(out) == len(addresses)
    return out


def llvm(path: Path, addresses: list[int]) -> list[Answer]:
    """Both of llvm-symbolizer's namings, one batched process each."""
    return [Answer(a, b) for a, b in zip(_run(path, addresses, "linkage"),
                                         _run(path, addresses, "short"), strict=True)]


def cxxfilt(names: set[str]) -> dict[str, str]:
    """GNU c++filt's spelling of each name (unchanged when it is not mangled)."""
    exe = need_tool("c++filt")
    ordered = sorted(names)
    out = subprocess.run([exe], input="\n".join(ordered) + "\n", check=True,
                         capture_output=True, text=True).stdout.split("\n")  # fmt: skip
    return dict(zip(ordered, out, strict=False))


# GCC/LLVM clone suffixes (gcc/ipa-*.cc: "cold", "part", "isra", "constprop",
# "lto_priv"; LLVM's ".llvm.<n>"), and glibc's internal alias prefixes.
_CLONE = re.compile(r"(\.(cold|part|isra|constprop|lto_priv|localalias|llvm)(\.\d+)*)+$")
_TAGS = re.compile(r"( \[(cold|part|isra|constprop|clone)(, (cold|part|isra|constprop))*\])+$")
_GNU_CLONE = re.compile(r"( \[clone \.[a-z_]+(\.\d+)?\])+$")


def plain(name: str | None) -> str | None:
    """A function name with versions, clone suffixes and fragment tags taken off."""
    if name is None:
        return None
    name = name.split("@", 1)[0] if not name.startswith("@") else name
    name = _CLONE.sub("", name)
    name = _GNU_CLONE.sub("", name)
    return _TAGS.sub("", name)


def nm_functions(path: Path) -> dict[str, set[tuple[int, int]]]:
    """Plain name -> ``(address, size)`` of the function symbols of that name (``nm -S``)."""
    exe = need_tool("nm")
    out = subprocess.run([exe, "-S", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    where: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            parts.insert(1, "0")
        if len(parts) == 4 and parts[2] in "TtWwiu":
            where[parts[3]].add((int(parts[0], 16), int(parts[1], 16)))
    return where

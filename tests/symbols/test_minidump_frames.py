"""Minidumps whose module files are not here: frames are module+offset from the ModuleList.

The oracle is the ModuleList read here with ``struct`` (independently of the
minidump reader): every address inside a module gives that module's name and
``address - BaseOfImage``, and no function, file or line is invented.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from memlens.symbols.chain import symbolizer_for
from memlens.symbols.frame import Frame
from memlens.targets import open_target

MODULE_LIST_STREAM = 4
MODULE_SIZE = 108  # MINIDUMP_MODULE


def module_list(path: Path) -> list[tuple[str, int, int]]:
    """(name, base, size) of each module of the dump's ModuleList stream."""
    data = path.read_bytes()
    magic, _version, count, rva = struct.unpack_from("<4sIII", data, 0)
    assert magic == b"MDMP"
    for i in range(count):
        stype, _size, srva = struct.unpack_from("<III", data, rva + 12 * i)
        if stype == MODULE_LIST_STREAM:
            (n,) = struct.unpack_from("<I", data, srva)
            out = []
            for k in range(n):
                base, size, _sum, _stamp, name_rva = struct.unpack_from(
                    "<QIIII", data, srva + 4 + k * MODULE_SIZE)  # fmt: skip
                (nbytes,) = struct.unpack_from("<I", data, name_rva)
                name = data[name_rva + 4 : name_rva + 4 + nbytes].decode("utf-16-le")
                out.append((name, base, size))
            return out
    raise AssertionError("no ModuleList stream")


@pytest.mark.parametrize("name, modules", [("linux_raise_sigabrt.dmp", 8),
                                           ("minidump2.dmp", 13)])  # fmt: skip
@pytest.mark.parametrize("empty_sysroot", [True, False], ids=["sysroot", "host"])
def test_frames_are_module_plus_offset_from_the_module_list(
    fixtures_dir: Path, tmp_path: Path, name: str, modules: int, empty_sysroot: bool
) -> None:
    """With an empty sysroot no file is found; on the host, a file that happens to have
    the same path (this machine's libgcc_s.so.1) is another build and must be refused."""
    dump = fixtures_dir / "minidump" / name
    listed = module_list(dump)
    assert len(listed) == modules
    sysroot = str(tmp_path) if empty_sysroot else None
    probes: list[tuple[int, str | None, int | None]] = []
    for mod, base, size in listed:
        probes += [(a, mod, a - base) for a in (base, base + size // 2, base + size - 1)]
    top = max(base + size for _m, base, size in listed)
    probes += [(top, None, None), (8, None, None)]  # outside every module
    with open_target(str(dump)) as snap:
        sym = symbolizer_for(snap, sysroot=sysroot)
        frames = sym.symbolize([a for a, _m, _o in probes])
        warnings = sym.warnings
    assert frames == [Frame(a, m, o) for a, m, o in probes]
    # each module says why it has no symbols
    expected = []
    for mod, _b, _s in listed:
        if sysroot:
            expected.append(f"{mod}: file not found under {sysroot}")
        elif os.path.isfile(mod):
            expected.append(f"{mod}: debug id of {mod} is ")
        else:
            expected.append(f"{mod}: file not found")
    assert len(warnings) == len(expected)
    for got, want in zip(sorted(warnings), sorted(expected), strict=True):
        assert got == want if "debug id" not in want else got.startswith(want), (got, want)

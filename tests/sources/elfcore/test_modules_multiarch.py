"""Modules of the elfutils cores equal `eu-unstrip -n --core` (start, build id, name).

`testcore-rtlib` has no NT_FILE note: its six modules come from the loader's link map
and the ELF headers saved in memory, the vdso (`linux-gate.so.1`) from AT_SYSINFO_EHDR.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import memlens

from ...conftest import need_tool
from .multiarch import CORES, unpack

_LINE = re.compile(r"^0x([0-9a-f]+)\+0x([0-9a-f]+) (\S+?)(?:@0x[0-9a-f]+)? \S+ \S+ (.+)$")


def unstrip(tool: str, core: Path) -> list[tuple[int, int, str | None, str]]:
    text = subprocess.run([tool, "-n", f"--core={core}"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        assert m is not None, line
        build_id = None if m.group(3) == "-" else m.group(3)
        out.append((int(m.group(1), 16), int(m.group(2), 16), build_id, m.group(4)))
    return out


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multiarch-modules")


@pytest.mark.parametrize("machine", sorted(CORES))
def test_modules_equal_eu_unstrip(machine: str, fixtures_dir: Path, unpacked: Path) -> None:
    tool = need_tool("eu-unstrip")
    core = unpack(fixtures_dir, CORES[machine], unpacked)
    expected = unstrip(tool, core)
    with memlens.open(str(core)) as snap:
        by_base = {m.base: m for m in snap.modules}
        for start, size, build_id, name in expected:
            assert start in by_base, (machine, hex(start), name)
            mod = by_base[start]
            assert (mod.build_id.hex() if mod.build_id else None) == build_id, (machine, name)
            if name != "[exe]":
                assert os.path.basename(mod.path) == os.path.basename(name), (machine, name)
            if machine == "i386-rtlib":
                # no NT_FILE: the extent is the image's PT_LOADs, as elfutils computes it
                assert mod.end - mod.base == size, (name, hex(mod.end - mod.base), hex(size))
        assert len(snap.modules) == len(expected)


def test_rtlib_modules_without_nt_file(fixtures_dir: Path, unpacked: Path) -> None:
    """The PROVENANCE oracle line, as elfutils' run-unstrip-n.sh prints it."""
    core = unpack(fixtures_dir, CORES["i386-rtlib"], unpacked)
    with memlens.open(str(core)) as snap:
        assert not any(n["name"] == "NT_FILE" for n in snap.extra["notes"])
        rt = next(m for m in snap.modules if m.path.endswith("librt.so.1"))
        assert (rt.base, rt.end - rt.base) == (0xF77B3000, 0x9000)
        assert rt.build_id is not None
        assert rt.build_id.hex() == "c6c5b5e35ab9589d4762ac85b4bd56b1b2720e37"
        gate = next(m for m in snap.modules if m.path == "linux-gate.so.1")
        assert gate.base == 0xF77D6000

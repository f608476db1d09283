"""Function names per thread equal `eu-stack --core --executable` on elfutils' cores.

s390x included (big-endian, CFA = sp + 160, the caller's r15 restored from the save
area).  The cores are kernel cores of elfutils' two-thread backtrace program (static, built
without frame pointers): every frame comes from DWARF CFI, the i386 first frame from the
vdso's CFI and symbols read out of the core's memory.
"""

from __future__ import annotations

import bz2
import json
import re
import subprocess
from pathlib import Path

import pytest

from memlens.cli.main import main

from ..conftest import need_tool

CORES = {"x86_64": "x86_64", "i386": "i386", "aarch64": "aarch64", "x32": "x32",
         "s390x": "s390x"}
_TID = re.compile(r"^TID (\d+):$")
_FRAME = re.compile(r"^#(\d+)\s+0x([0-9a-f]+)\s*(\S*)")


def eu_stack(tool: str, core: Path, exe: Path) -> dict[int, list[tuple[int, str]]]:
    run = subprocess.run([tool, f"--core={core}", f"--executable={exe}"], capture_output=True,
                         text=True)  # fmt: skip
    threads: dict[int, list[tuple[int, str]]] = {}
    current: list[tuple[int, str]] = []
    for line in run.stdout.splitlines():
        if m := _TID.match(line):
            current = threads.setdefault(int(m.group(1)), [])
        elif m := _FRAME.match(line):
            current.append((int(m.group(2), 16), m.group(3)))
    return threads


def _unpack(fixtures: Path, name: str, into: Path) -> Path:
    out = into / name
    if not out.exists():
        out.write_bytes(bz2.decompress((fixtures / "elfcore" / "multiarch" / f"{name}.bz2")
                                       .read_bytes()))  # fmt: skip
    return out


@pytest.mark.parametrize("machine", sorted(CORES))
def test_function_names_equal_eu_stack(machine: str, fixtures_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    tool = need_tool("eu-stack")
    core = _unpack(fixtures_dir, f"backtrace.{machine}.core", tmp_path)
    exe = _unpack(fixtures_dir, f"backtrace.{machine}.exec", tmp_path)
    expected = eu_stack(tool, core, exe)
    assert main(["stack", str(core), "--exe", str(exe), "--json", "--no-scan"]) == 0
    doc = json.loads(capsys.readouterr().out)
    got = {t["tid"]: [(f["pc"], f["function"]) for f in t["frames"]] for t in doc["threads"]}
    assert sorted(got) == sorted(expected) and len(expected) == 2
    for tid, frames in expected.items():
        # eu-stack repeats the outermost frame of a thread whose _start has no CFI before
        # it gives up; an ARM mapping symbol ($x) is its name for code without a symbol
        if len(frames) > 1 and frames[-1][0] == frames[-2][0]:
            frames = frames[:-1]
        ours = got[tid]
        assert [pc for pc, _ in ours] == [pc for pc, _ in frames], (machine, tid)
        for (_, name), (_, want) in zip(ours, frames, strict=True):
            assert name == want or (want.startswith("$") and name == "_start"), (tid, name, want)
        assert all(f["trust"] in ("context", "cfi") for t in doc["threads"]
                   for f in t["frames"][:-1]), machine  # fmt: skip

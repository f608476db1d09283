"""A sized ELF symbol covers [st_value, st_value + st_size): the byte one past
its end is not in it.  The oracle is binutils' ``nm -S`` on a program this test
compiles, with alignment gaps after a function and after a data object."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memlens.cli.main import main
from tests.conftest import compile_c, need_tool

# Each object is aligned to 64 bytes and much smaller than 64: padding follows it.
PROGRAM = r"""
__attribute__((noinline, aligned(64))) int first(int x) { return x * 3 + 1; }
__attribute__((noinline, aligned(64))) int second(int x) { return x - 7; }
__attribute__((aligned(64))) char table[13] = "abcdefghijkl";
__attribute__((aligned(64))) char after[8] = "xyz";
int main(int argc, char **argv) {
    (void)argv;
    return first(argc) + second(argc) + table[argc] + after[0];
}
"""


def _nm_sized(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (start, end) for every symbol nm prints with a size."""
    out = subprocess.run([need_tool("nm"), "-S", str(path)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            start, size = int(parts[0], 16), int(parts[1], 16)
            rows[parts[3]] = (start, start + size)
    return rows


def _symbolize(path: Path, addresses: list[int], capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["symbolize", str(path), *[f"{a:#x}" for a in addresses], "--json"]) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    assert [f["address"] for f in frames] == addresses
    return [f["function"] for f in frames]


@pytest.mark.parametrize("name", ["first", "after"])
def test_one_past_the_end_is_not_the_symbol(
    name: str, build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no DWARF: the ELF symbol table alone answers
    exe = compile_c(PROGRAM, build_dir / "gaps", "-O1", "-g0")
    sized = _nm_sized(exe)
    start, end = sized[name]
    assert end - start < 64, "the object must be smaller than its alignment"
    # the oracle: no sized symbol covers the byte after the object
    assert not [n for n, (s, e) in sized.items() if s <= end < e], sized
    got = _symbolize(exe, [start, end - 1, end], capsys)
    assert got[:2] == [name, name]
    assert got[2] != name

"""A program's whole output with several mem_info(1) prints (the unix port's own):
one snapshot per print, never one heap with doubled totals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.mpy.meminfo_text import parse_all

from .unixport import Interpreter

PROGRAM = """
import micropython
micropython.mem_info(1)
print("between the prints")
keep = [str(i) * 3 for i in range(300)]
table = {i: i / 7 for i in range(100)}
micropython.mem_info(1)
keep = None
import gc
gc.collect()
micropython.mem_info(1)
"""


@pytest.fixture(scope="module")
def output(interpreters: dict[str, Interpreter], tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, list[str]]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("prints")
    script = tmp / "three.py"
    script.write_text(PROGRAM)
    interp = interpreters["x86_64-pie"]
    proc = subprocess.run([str(interp.binary), "-X", "heapsize=128k", str(script)],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    out = tmp / "out.txt"
    out.write_text(proc.stdout)
    prints = proc.stdout.split("mem: total=")[1:]
    tails = [p[p.index("GC: total:"):].replace("between the prints\n", "") for p in prints]
    return out, tails


def test_one_snapshot_per_print(output: tuple[Path, list[str]]) -> None:
    path, tails = output
    snaps = parse_all(path.read_text())
    assert len(snaps) == len(tails) == 3
    for m, tail in zip(snaps, tails, strict=True):
        gc = tail.splitlines()[0]
        assert m.header is not None and gc == (f"GC: total: {m.header.total}, used: "
                                               f"{m.header.used}, free: {m.header.free}")
        assert m.mismatches() == [] and len(m.areas) == 1
        assert m.derived().total == m.header.total  # not doubled


def test_snapshot_k_and_all_with_table(
    output: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, tails = output
    assert main(["mpy", str(path), "--snapshot", "1", "--table"]) == 0
    assert capsys.readouterr().out == tails[1]
    assert main(["mpy", str(path), "--snapshot", "all", "--table"]) == 0
    assert capsys.readouterr().out == "".join(f"== snapshot {k}\n{t}" for k, t in enumerate(tails))
    assert main(["mpy", str(path), "--snapshot", "5"]) == 1
    assert "holds 3 mem_info print(s)" in capsys.readouterr().err


def test_all_with_layout_and_json(
    output: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = output
    svg = tmp_path / "heap.svg"
    assert main(["mpy", str(path), "--snapshot", "all", "--layout", str(svg), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "mpy-meminfo-snapshots"
    assert [s["snapshot"] for s in doc["snapshots"]] == [0, 1, 2]
    used = [s["header"]["used"] for s in doc["snapshots"]]
    assert used[1] > used[0] and used[2] < used[1]
    assert [p.name for p in sorted(tmp_path.glob("heap.*.svg"))] == [
        "heap.0.svg", "heap.1.svg", "heap.2.svg"]

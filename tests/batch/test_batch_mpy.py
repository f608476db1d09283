"""``memlens batch mpy`` on cores of MicroPython's own unix port: used bytes equal what
the interpreter printed with mem_info(1), and the object types add up across the fleet."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from memlens.batch.aggregate import fleet_report
from memlens.batch.scheduler import run_batch
from memlens.batch.store import read_table
from tests.conftest import need_tool
from tests.mpy.unixport import running, unpack


def test_used_bytes_equal_mem_info_and_types_add_up(tmp_path: Path) -> None:
    gdb = need_tool("gdb")
    interp = unpack(tmp_path)["x86_64-pie"]
    cores = tmp_path / "cores"
    cores.mkdir()
    used: dict[str, int] = {}
    for i, workload in enumerate(("mixed", "fragmented")):
        with running(interp, workload, 256 * 1024, tmp_path) as run:
            core = cores / f"{workload}.core"
            subprocess.run([gdb, "-nx", "-batch", "-p", str(run.pid), "-ex",
                            f"gcore {core}"], capture_output=True, check=True)  # fmt: skip
            m = re.search(r"^GC: total: \d+, used: (\d+),", run.meminfo, re.M)
            assert m, run.meminfo
            used[core.name] = int(m.group(1))
            assert i == len(used) - 1
    out = tmp_path / "out"
    result = run_batch("mpy", [str(cores)], str(out), workers=1)
    assert (result.analysed, result.errors) == (2, 0)
    dumps = {Path(str(d["path"])).name: d for d in read_table(str(out), "dumps").to_pylist()}
    assert {name: d["heap_bytes"] for name, d in dumps.items()} == used
    types = read_table(str(out), "mpy_types").to_pylist()
    fleet = {s.site: (s.blocks, s.bytes) for s in fleet_report(str(out), top=100).mpy_types}
    for name in {str(t["type"]) for t in types}:
        rows = [t for t in types if t["type"] == name]
        assert fleet[name] == (sum(int(t["objects"]) for t in rows),  # type: ignore[call-overload]
                               sum(int(t["bytes"]) for t in rows))  # type: ignore[call-overload]
    assert "dict" in fleet and "str" in fleet

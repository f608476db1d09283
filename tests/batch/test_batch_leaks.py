"""``memlens batch leaks``: the leak table of two cores of a program with known leaks
equals what ``memlens leaks`` finds in each (valgrind-checked in tests/glibc)."""

from __future__ import annotations

from pathlib import Path

from memlens.batch.aggregate import fleet_report
from memlens.batch.scheduler import run_batch
from memlens.batch.store import read_table
from memlens.glibc.leakreport import leak_report
from memlens.targets import open_target
from tests.glibc.programs import build, gcore, running


def test_leak_rows_and_fleet_totals_equal_the_leaks_verb(tmp_path: Path) -> None:
    exe = build("leaks", tmp_path)
    cores = tmp_path / "cores"
    cores.mkdir()
    for i in range(2):
        with running(exe) as (proc, _):
            gcore(proc.pid, cores / f"core.{i}")
    with open_target(str(cores / "core.0")) as snap:
        report = leak_report(snap)
    out = tmp_path / "out"
    result = run_batch("leaks", [str(cores)], str(out), workers=1)
    assert (result.analysed, result.errors) == (2, 0)
    rows = read_table(str(out), "leaks").to_pylist()
    per_core: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}
    for r in rows:
        key = (str(r["kind"]), int(r["size"]))  # type: ignore[call-overload]
        per_core.setdefault(str(r["key"]), {})[key] = (int(r["blocks"]), int(r["bytes"]))  # type: ignore[call-overload]
    expected = {(g.kind, g.size): (g.count, g.bytes) for g in report.groups}
    assert len(per_core) == 2 and all(got == expected for got in per_core.values())
    # tests/glibc: 2 blocks / 64 bytes definitely lost in this program (valgrind agrees)
    lost = sum(b for (kind, _), (_, b) in expected.items() if kind == "definitely lost")
    assert lost == 64
    fleet = fleet_report(str(out))
    assert sum(s.bytes for s in fleet.leaks if s.site.startswith("definitely lost")) == 2 * 64

"""A live target is read, never changed: no page faulted in, never left stopped."""

from __future__ import annotations

from pathlib import Path

from memlens.glibc.chunktable import State
from memlens.glibc.leakreport import leak_report
from memlens.targets import open_target
from tests.glibc.programs import build, parse_figures, running


def _present_pages(pid: int) -> dict[int, int]:
    with open_target(str(pid)) as snap:
        out = {}
        for region in snap.regions:
            if region.perms.write and region.perms.read:
                table = snap.page_table(region)
                if table is not None:
                    out[region.start] = int(table.present.sum())
        return out


def test_leaks_faults_no_page_in(tmp_path: Path) -> None:
    exe = build("untouched", tmp_path)
    with running(exe) as (proc, line):
        big = parse_figures(line)["big"]
        before = _present_pages(proc.pid)
        with open_target(str(proc.pid)) as snap:
            report = leak_report(snap)
        after = _present_pages(proc.pid)
        status = Path(f"/proc/{proc.pid}/status").read_text()
    assert after == before
    assert "TracerPid:\t0" in status and "(stopped)" not in status
    mm = report.walk.chunks.state == State.MMAPPED
    assert [int(a) + 16 for a in report.walk.chunks.address[mm]] == [big]
    assert report.summary["still reachable"][0] == 2

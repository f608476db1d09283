"""``memlens run``: the CLI end to end, periodic snapshots, ELF cores beside the heap files."""

from __future__ import annotations

from pathlib import Path

import heap_programs as progs
import pytest
from heap_helpers import build, report_of

import memlens
from memlens.cli.main import main
from memlens.heap.profile_file import read
from memlens.heap.report import profile_from_snapshot
from memlens.heap.runner import RunOptions, run_under_shim

TICKS = r"""
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) void tick(int i) { ((char *)malloc(1000 + i))[0] = 1; }
int main(void) { for (int i = 0; i < 25; ++i) { tick(i); usleep(100000); } return 0; }
"""


def test_run_prints_the_report_summary_and_writes_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exe = build(progs.SEED, tmp_path / "seed", "-O0")
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--top", "3", "--", str(exe)]) == 0
    captured = capsys.readouterr()
    # The report is on stderr (issue 11: stdout is the program's).
    assert captured.out == ""
    text = captured.err
    assert "exit status 0 after" in text and "3 heap snapshot(s) in " in text
    # Never freed: 1 MiB from another_func, 8 blocks of 128 KiB +- 1 from example_func.
    assert "1048576 bytes in 1 block not freed\n      another_func" in text
    assert "1048576 bytes in 8 blocks not freed\n      example_func" in text
    assert f"leaked        {2 << 20} bytes (2.0M) in 9 blocks at exit" in text
    html = (out / "report.html").read_text()
    assert "another_func" in html and "<script" in html
    names = sorted(p.name.split("-", 2)[::2] for p in out.glob("*.mlheap"))
    assert names == [["000", "request.mlheap"], ["001", "request.mlheap"], ["002", "exit.mlheap"]]


def test_every_takes_periodic_snapshots(tmp_path: Path) -> None:
    exe = build(TICKS, tmp_path / "ticks", "-O0")
    result = run_under_shim([str(exe)], RunOptions(out_dir=str(tmp_path / "o"), every=0.8))
    reasons = [s.reason for s in result.snapshots]
    assert reasons[-1] == "exit" and reasons.count("every") >= 2, reasons
    assert set(reasons) == {"every", "exit"}
    counts = [
        next((g.count for g in report_of(s.profile).groups
              if any(f.function == "tick" for f in g.frames)), 0)
        for s in result.snapshots
    ]  # fmt: skip
    assert counts == sorted(counts) and counts[-1] == 25


def test_core_beside_each_snapshot_gives_the_same_heap(tmp_path: Path) -> None:
    exe = build(progs.SEED, tmp_path / "seed", "-O0")
    out = tmp_path / "o"
    result = run_under_shim([str(exe)], RunOptions(out_dir=str(out), core=True))
    assert result.errors == []
    for snap_file in result.snapshots:
        core = snap_file.path[: -len(".mlheap")] + ".core"
        with memlens.open(core) as snap:
            from_core = report_of(profile_from_snapshot(snap))
        saved = report_of(read(snap_file.path))
        assert [(g.stack, g.sizes) for g in from_core.groups] == [
            (g.stack, g.sizes) for g in saved.groups
        ]


def test_run_with_no_command_runs_the_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().err
    for name in ("fill_cache", "load_table", "copy_text"):
        assert name in text



def test_a_shell_wrapper_and_its_children(tmp_path: Path) -> None:
    exe = build(progs.SEED, tmp_path / "seed", "-O0")
    # "; true" makes the shell fork the program instead of exec'ing it.
    result = run_under_shim(["/bin/sh", "-c", f"{exe}; true"], RunOptions(out_dir=str(tmp_path)))
    assert result.returncode == 0 and result.errors == []
    final = result.final
    assert final is not None and final.reason == "exit"
    seed_snaps = [s for s in result.snapshots if s.pid == final.pid]
    assert [s.reason for s in seed_snaps] == ["request", "request", "exit"]
    groups = {tuple(sorted(g.sizes)) for g in report_of(final.profile).groups}
    assert (1048576,) in groups and (131071,) * 4 + (131073,) * 4 in groups

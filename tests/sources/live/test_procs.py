"""``memlens procs``: every process's RSS/PSS/USS as the kernel's smaps_rollup sums them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from tests.sources.live.pagetarget import Target
from tests.sources.live.smaps import read_smaps

from memlens.analyses.procs import _from_page_tables
from memlens.cli.main import main


def _rollup(pid: int) -> dict[str, int]:
    (block,) = read_smaps(pid, "smaps_rollup")
    return block.fields


def _procs(capsys: pytest.CaptureFixture[str], *args: str) -> dict[int, dict[str, object]]:
    assert main(["procs", *args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {p["pid"]: p for p in doc["processes"]}


def test_pss_and_uss_equal_smaps_rollup(target: Target, sleeper: subprocess.Popen[bytes],
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    pids = [target.pid, target.addr["child"], sleeper.pid]
    for _ in range(10):
        # other processes mapping or unmapping libc change these processes' Pss: compare
        # at a moment when the kernel's numbers held still around memlens's read
        before = {pid: _rollup(pid) for pid in pids}
        rows = _procs(capsys, *map(str, pids))
        if before == {pid: _rollup(pid) for pid in pids}:
            break
    else:
        pytest.skip("the machine never held still for one read")
    assert sorted(rows) == sorted(pids)
    for pid in pids:
        kernel, row = before[pid], rows[pid]
        assert row["source"] == "smaps_rollup"
        assert row["pss"] == kernel["Pss"] * 1024
        assert row["rss"] == kernel["Rss"] * 1024
        assert row["uss"] == (kernel["Private_Clean"] + kernel["Private_Dirty"]) * 1024
        assert row["shared"] == (kernel["Shared_Clean"] + kernel["Shared_Dirty"]) * 1024
        assert row["swap"] == kernel["Swap"] * 1024


def test_every_process_is_listed_or_explained(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["procs", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    listed = {p["pid"] for p in doc["processes"]}
    assert os.getpid() in listed
    for p in doc["processes"]:
        assert (p["pss"] is None) == (p["reason"] is not None)
    # sorted by PSS, largest first, unreadable ones last
    pss = [p["pss"] for p in doc["processes"] if p["pss"] is not None]
    assert pss == sorted(pss, reverse=True)


def test_page_table_fallback_agrees_with_smaps_rollup(target: Target) -> None:
    """Where a kernel has no smaps_rollup, memlens sums the page tables (root)."""
    if os.geteuid() != 0:
        pytest.skip("kpagecount and kpageflags need root")
    ours = _from_page_tables(target.pid)
    assert ours is not None
    kernel = _rollup(target.pid)
    assert ours.fields["Rss"] == kernel["Rss"] * 1024
    assert ours.uss == (kernel["Private_Clean"] + kernel["Private_Dirty"]) * 1024
    assert abs(ours.fields["Pss"] - kernel["Pss"] * 1024) <= 1024 * 8  # per-mapping rounding


def test_unprivileged_lists_what_it_can_and_why_not_the_rest(sleeper: subprocess.Popen[bytes],
                                                             ) -> None:  # fmt: skip
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run memlens as another user")
    out = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
         "memlens", "procs", "--json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": "/tmp"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    rows = {p["pid"]: p for p in json.loads(out.stdout)["processes"]}
    root_sleeper = rows[sleeper.pid]
    assert root_sleeper["pss"] is None and "no permission" in root_sleeper["reason"]
    own = [p for p in rows.values() if p["user"] == "nobody" and p["pss"] is not None]
    assert own  # memlens itself, at least


def test_a_pid_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["procs", str(2**22 + 4321)])
    out, err = capsys.readouterr()
    assert code == 3 and "exited" in out and "Traceback" not in err

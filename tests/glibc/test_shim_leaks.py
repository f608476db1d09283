"""Under memlens's shim, each leaked block's group names its allocation stack.

The program runs natively with the shim preloaded (its stack table is then
private memory, in the core) and under valgrind, both stopping at the same
point.  The shim's pointer lies past its record inside glibc's chunk; only if
memlens lays each record exactly on its chunk do start pointers, requested
sizes and stacks come out as valgrind's: so the classes must equal valgrind's
summary exactly (bytes too: the records keep the requested sizes), and the
groups, summed by the function that allocated, valgrind's loss records.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.glibc.leakreport import LeakReport, leak_report
from memlens.heap.runner import shim_path
from memlens.targets import open_target
from tests.glibc import memcheck
from tests.glibc.programs import build, gcore, running


@pytest.fixture(scope="module")
def shimleaks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The program and valgrind's report of it (run once for the module)."""
    exe = build("shimleaks", tmp_path_factory.mktemp("glibc-shim"))
    return exe, memcheck.run_memcheck([exe])


def _report(target: str) -> LeakReport:
    with open_target(target) as snap:
        return leak_report(snap, reachable_groups=True)


def by_function(report: LeakReport) -> dict[tuple[str, str], tuple[int, int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for g in report.groups:
        key = (g.kind, g.stack[0].function or "?" if g.stack else "(no stack)")
        out[key][0] += g.count
        out[key][1] += g.bytes
    return {k: (v[0], v[1]) for k, v in out.items()}


def _under_shim(exe: Path, tmp_path: Path, **env: str) -> tuple[LeakReport, LeakReport]:
    with running(exe, env={"LD_PRELOAD": shim_path(), **env}) as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
        live = _report(str(proc.pid))
    return _report(str(core)), live


@pytest.mark.parametrize("sample", ["0", "1"], ids=["exact", "sampled-every-block"])
def test_groups_name_the_stacks_valgrind_names(shimleaks: tuple[Path, str], tmp_path: Path,
                                               sample: str) -> None:  # fmt: skip
    exe, valgrind = shimleaks
    env = {"MEMLENS_SAMPLE": sample} if sample != "0" else {}
    ours, live = _under_shim(exe, tmp_path, **env)
    assert ours.summary == live.summary == memcheck.summary(valgrind)
    expected = memcheck.by_function(memcheck.records(valgrind))
    assert by_function(ours) == by_function(live) == expected
    # the designed leaks (the oracle above must have seen them too)
    assert expected[("definitely lost", "leak_list")] == (1, 24)
    assert expected[("indirectly lost", "leak_list")] == (100, 2400)
    assert expected[("possibly lost", "leak_middle")] == (1, 56)
    assert expected[("definitely lost", "leak_aligned")] == (1, 40)  # a format-1 record
    assert ours.shim is not None and ours.shim.unmatched == 0
    # every group's stack goes on to main, the caller of the leaking function
    assert all(g.stack[1].function == "main" for g in ours.groups)


def test_unsampled_blocks_classed_without_stacks(shimleaks: tuple[Path, str],
                                                 tmp_path: Path) -> None:  # fmt: skip
    """Sampled mode with a period far above the program's bytes: every block gets a
    compact record and none a stack; the classes are still valgrind's."""
    exe, valgrind = shimleaks
    ours, _ = _under_shim(exe, tmp_path, MEMLENS_SAMPLE=str(1 << 30))
    assert ours.summary == memcheck.summary(valgrind)
    assert ours.groups and all(g.stack == () for g in ours.groups)


def test_cli_prints_each_groups_stack(shimleaks: tuple[Path, str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    exe, _ = shimleaks
    with running(exe, env={"LD_PRELOAD": shim_path()}) as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
    assert main(["leaks", str(core)]) == 0
    text = capsys.readouterr().out
    assert "LEAK SUMMARY (bytes are requested sizes, from the shim's records)" in text
    assert "      leak_middle+" in text and "shimleaks.c:39" in text
    assert main(["leaks", str(core), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["size_unit"] == "requested bytes"
    firsts = {(g["kind"], g["stack"][0]["function"]) for g in doc["groups"]}
    assert firsts == {("definitely lost", "leak_list"), ("indirectly lost", "leak_list"),
                      ("possibly lost", "leak_middle"), ("definitely lost", "leak_aligned")}


def _child_pid(parent: int) -> int:
    kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    assert len(kids) == 1, kids
    return int(kids[0])


def _allow_cores() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_memlens_run_live_snapshot_and_kernel_core(shimleaks: tuple[Path, str], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Under ``memlens run`` the stack table is a shared file mapping: a live read and a
    memlens snapshot see it; a kernel core leaves it out, and the file in --out (the
    core's NT_FILE names it) gives the stacks back."""
    exe, valgrind = shimleaks
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    run = subprocess.Popen([sys.executable, "-m", "memlens", "run", "--out", str(tmp_path / "out"),
                            "-q", "--", str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           cwd=tmp_path, preexec_fn=_allow_cores)  # fmt: skip
    try:
        assert run.stdout is not None and run.stdout.readline() == b"ready\n"
        pid = _child_pid(run.pid)
        live = _report(str(pid))
        assert main(["snapshot", str(pid), "-o", str(tmp_path / "snap.core")]) == 0
        os.kill(pid, signal.SIGSEGV)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    saved = _report(str(tmp_path / "snap.core"))
    expected = memcheck.by_function(memcheck.records(valgrind))
    assert by_function(live) == by_function(saved) == expected
    assert live.summary == saved.summary == memcheck.summary(valgrind)
    cores = [p for p in tmp_path.iterdir() if p.name == "core" or p.name.startswith("core.")]
    if pattern.startswith("|") or "/" in pattern or not cores:
        pytest.skip(f"the kernel wrote no core here (core_pattern {pattern!r})")
    with open_target(str(cores[0])) as snap:
        assert not any(snap.space.saved_bytes(r.start, r.end) for r in snap.regions
                       if r.path and r.path.endswith(".mlstats"))  # fmt: skip
    kernel = _report(str(cores[0]))
    assert by_function(kernel) == expected and kernel.summary == memcheck.summary(valgrind)
    # memlens heap reads the table the same way
    capsys.readouterr()
    assert main(["heap", str(cores[0]), "--function", "leak_middle"]) == 0
    assert "leak_middle+" in capsys.readouterr().out

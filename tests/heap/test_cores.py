"""Heaps from a kernel core and a gdb core agree with the live scan of the same process."""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import heap_programs as progs
import pytest
from heap_helpers import build, live_profile, need_tool, report_of, shim_env

import memlens
from memlens.cli.main import main
from memlens.heap.report import HeapReport, profile_from_snapshot


def _key(report: HeapReport) -> list[tuple[object, ...]]:
    return sorted(
        (g.stack, g.bytes, g.count, g.sizes, tuple(f.function for f in g.frames))
        for g in report.groups
    )


def _core_limit() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@pytest.mark.slow
def test_live_gcore_and_kernel_core_give_the_same_report(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    gdb = need_tool("gdb")
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"kernel cores go elsewhere (core_pattern {pattern!r})")
    exe = build(progs.THREADS, tmp_path / "threads", "-O0", "-lpthread")
    proc = subprocess.Popen([str(exe)], env=shim_env(), stdout=subprocess.PIPE, cwd=tmp_path,
                            preexec_fn=_core_limit)  # fmt: skip
    spawn.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"

    live = report_of(live_profile(proc.pid))
    gcore = tmp_path / "gdb.core"
    subprocess.run([gdb, "-p", str(proc.pid), "-batch", "-ex", f"gcore {gcore}"],
                   check=True, capture_output=True)  # fmt: skip
    proc.send_signal(signal.SIGSEGV)
    assert proc.wait(timeout=60) == -signal.SIGSEGV
    cores = [p for p in tmp_path.iterdir() if p.name == "core" or p.name.startswith("core.")]
    if not cores:
        pytest.skip("the kernel wrote no core (core_pattern / rlimit / filesystem)")

    for core in (gcore, cores[0]):
        with memlens.open(str(core)) as snap:
            assert snap.format == "elfcore"
            from_core = report_of(profile_from_snapshot(snap))
        assert _key(from_core) == _key(live), core.name
        assert from_core.total_bytes == live.total_bytes
    assert sum(1 for g in live.groups if g.count == 1024 and set(g.sizes) == {1}) == 2

    assert main(["heap", str(cores[0]), "--function", "make_blocks"]) == 0
    out = capsys.readouterr().out
    assert out.count(" 1024 [1, 1, 1") == 2

"""Helpers for the heap tests: build the test programs, run them under the shim."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

import memlens
from memlens.heap.model import HeapProfile
from memlens.heap.report import HeapReport, build_report, profile_from_snapshot, symbolize_with
from memlens.heap.runner import shim_path
from memlens.heap.symbolize import symbolizer_for_profile


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup --test installs it as root)")
    return path


def build(source: str, out: Path, *flags: str, cxx: bool = False) -> Path:
    compiler = need_tool("g++" if cxx else "gcc")
    src = out.with_suffix(".cc" if cxx else ".c")
    src.write_text(source)
    subprocess.run([compiler, "-g", "-O1", "-o", str(out), str(src), *flags], check=True)
    return out


def shim_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LD_PRELOAD"] = shim_path()
    env.update(extra)
    return env


def start_under_shim(
    argv: Sequence[str], spawn: list[subprocess.Popen[bytes]], **extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``argv`` with the shim; wait for its first output line (it then pauses)."""
    proc = subprocess.Popen(list(argv), env=shim_env(**extra), stdout=subprocess.PIPE)
    spawn.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line, f"{argv[0]} exited with {proc.wait()} before it was ready"
    return proc, line


def live_profile(pid: int) -> HeapProfile:
    with memlens.open(pid) as snap:
        return profile_from_snapshot(snap)


def report_of(profile: HeapProfile) -> HeapReport:
    return build_report(profile, symbolize_with(symbolizer_for_profile(profile)))


def functions(report: HeapReport, index: int) -> list[str | None]:
    return [f.function for f in report.groups[index].frames]


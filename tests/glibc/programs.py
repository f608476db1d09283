"""Test programs for the glibc walk: compiled once, run, dumped at a known point."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "progs"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def build(name: str, out_dir: Path, *flags: str, cxx: bool = False) -> Path:
    """Compile ``progs/NAME.c`` (or ``.cc``) into ``out_dir``."""
    compiler = need("g++" if cxx else "gcc")
    src = HERE / (name + (".cc" if cxx else ".c"))
    out = out_dir / (name + "".join(f.replace("-", "_") for f in flags))
    if not out.exists():
        run = subprocess.run([compiler, "-g", "-O0", "-pthread", "-o", str(out), str(src),
                              *flags], capture_output=True)  # fmt: skip
        if run.returncode and b"valgrind/memcheck.h" in run.stderr:
            pytest.skip("valgrind's headers are not installed (the valgrind package)")
        if run.returncode:
            raise subprocess.CalledProcessError(run.returncode, run.args, run.stdout, run.stderr)
    return out


def parse_figures(line: str) -> dict[str, int]:
    """``name=value`` pairs of a line the test programs print."""
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


@contextmanager
def running(exe: Path, *args: str, cwd: Path | None = None, core_limit: bool = False,
            env: dict[str, str] | None = None,
            ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:  # fmt: skip
    """Start ``exe`` (``env``: added to the environment), wait for its first line
    (printed at the check point), yield (process, line); the process waits on
    stdin until the block ends."""

    def allow_cores() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    proc = subprocess.Popen([str(exe), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=cwd, preexec_fn=allow_cores if core_limit else None,
                            env=None if env is None else {**os.environ, **env})  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line, f"{exe.name} printed nothing"
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def gcore(pid: int, core: Path) -> Path:
    gdb = need("gdb")
    subprocess.run([gdb, "-nx", "-batch", "-p", str(pid), "-ex", f"gcore {core}"],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    return core


def kernel_core(proc: subprocess.Popen[bytes], cwd: Path) -> Path:
    """Make the waiting program abort() and return the core the kernel wrote."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern {pattern!r} sends cores elsewhere")
    assert proc.stdin is not None
    proc.stdin.write(b"abort\n")
    proc.stdin.flush()
    proc.wait(timeout=60)
    cores = [p for p in cwd.iterdir() if p.name == "core" or p.name.startswith("core.")]
    if not cores:
        pytest.skip(f"the kernel wrote no core (core_pattern {pattern!r})")
    return cores[0]

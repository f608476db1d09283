"""The local worker pool: real processes, forked warm from a server that imported the analysis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# a program of its own: the fork server is one per process and keeps the imports it
# started with, so this test must start it.  The workers import this file as their
# main module (multiprocessing's rule), which is how they find ``state``.
PROGRAM = """
import os, sys
from memlens.batch.pool import worker_pool

MODULE = "memlens.analyses.stack"

def state():
    return os.getpid(), MODULE in sys.modules

if __name__ == "__main__":
    with worker_pool(2, [MODULE]) as pool:
        states = [pool.submit(state).result() for _ in range(8)]
    print(os.getpid(), MODULE in sys.modules)
    for pid, loaded in sorted(set(states)):
        print(pid, loaded)
"""


def test_workers_are_other_processes_with_the_analysis_imported_before_any_task(
    tmp_path: Path,
) -> None:
    program = tmp_path / "pool_program.py"
    program.write_text(PROGRAM)
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    lines = [line.split() for line in done.stdout.splitlines()]
    parent, workers = lines[0], lines[1:]
    assert parent[1] == "False"  # the parent did not pay for the analysis's imports
    assert 1 <= len(workers) <= 2
    assert all(pid != parent[0] and loaded == "True" for pid, loaded in workers), lines


def test_the_installed_command_runs_local_workers(fleet_inputs: Path, tmp_path: Path) -> None:
    """The ``memlens`` script, not ``main()`` in pytest: the fork server runs the main
    module again to prepare its workers, so the script must not start a second batch
    then (it did once: every ``batch --workers 2`` from a shell died)."""
    from memlens.batch.scheduler import run_batch

    from .test_batch import _tables as tables

    command = Path(sys.executable).with_name("memlens")
    done = subprocess.run([str(command), "batch", "info", str(fleet_inputs), "-o",
                           str(tmp_path / "cli"), "--workers", "2", "--chunk", "2"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    run_batch("info", [str(fleet_inputs)], str(tmp_path / "inproc"), workers=1)
    assert tables(tmp_path / "cli") == tables(tmp_path / "inproc")

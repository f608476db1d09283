"""The ``memlens`` program itself: what ``entry()`` adds to ``main()`` (flush, exit code, EPIPE).

``entry()`` leaves with ``os._exit`` after flushing, so these run the real
program in a child and compare with ``main()`` run here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memlens.cli.main import main
from tests.conftest import ROOT

CORE64 = "elfcore/core_linux64.elf"
MEMLENS = [sys.executable, "-m", "memlens"]
ENV = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}


def test_full_output_and_exit_code(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["read", str(fixtures_dir / CORE64), "0x400000", "0x3000", "--pad"]
    assert main(argv) == 0
    expected = capsys.readouterr().out
    child = subprocess.run([*MEMLENS, *argv], capture_output=True, text=True, env=ENV)
    assert (child.returncode, child.stdout, child.stderr) == (0, expected, "")


def test_error_exit_code_and_message(fixtures_dir: Path) -> None:
    child = subprocess.run([*MEMLENS, "read", str(fixtures_dir / CORE64), "0x10", "4"],
                           capture_output=True, text=True, env=ENV)  # fmt: skip
    assert child.returncode == 1 and child.stdout == ""
    assert child.stderr.startswith("memlens: error: address 0x10") and child.stderr.count("\n") == 1


def test_reader_closing_the_pipe_early_is_quiet(fixtures_dir: Path) -> None:
    # far more output than a pipe holds: the child meets EPIPE while writing
    argv = ["read", str(fixtures_dir / CORE64), "0x400000", "0x200000", "--pad"]
    child = subprocess.Popen([*MEMLENS, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=ENV)  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    assert len(child.stdout.read(100)) == 100
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=60) == 0 and err == b""

"""The text paths of ``memlens pages`` run without importing numpy.

Issue 2's budget for ``memlens pages PID`` (113 ms on a 512 MiB process) is
less than ``import numpy`` alone takes on the reference machine, so the page
reads, lines and summary are done by :mod:`memlens._pagewalk`.  Each case runs
the command line in a fresh interpreter on a real process and reports which
numpy modules it loaded; ``--json`` (which may use numpy) shows the check can
see an import.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest
from tests.conftest import ROOT, need_root
from tests.sources.live.pagetarget import Target

#: runs ``main(argv)`` with stdout on /dev/null; prints (exit code, numpy modules) on stderr
CHILD = """
import os, sys
from memlens.cli.main import main
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
code = main(sys.argv[1:])
sys.stdout.flush()
print(repr((code, sorted(m for m in sys.modules if m.split(".")[0] == "numpy"))), file=sys.stderr)
"""


def run_child(argv: list[str], prefix: list[str] | None = None) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([*(prefix or []), sys.executable, "-c", CHILD, *argv],
                            capture_output=True, text=True, env=env, check=True)  # fmt: skip
    code, modules = ast.literal_eval(result.stderr.strip().splitlines()[-1])
    return code, modules


@pytest.mark.parametrize(
    "options",
    [[], ["--summary"], ["--raw"], ["--summary", "--raw"], ["--areas", "[stack],[heap]"],
     ["--address", "ANON"]],
    ids=["lines", "summary", "raw", "summary-raw", "areas", "address"],
)  # fmt: skip
def test_text_paths_import_no_numpy(target: Target, options: list[str]) -> None:
    need_root()  # PFNs, counts and flags: the whole path
    options = [f"{target.addr['anon']:x}" if o == "ANON" else o for o in options]
    code, modules = run_child(["pages", str(target.pid), *options])
    assert code == 0
    assert modules == []


def test_json_imports_no_numpy(target: Target) -> None:
    """Per-page JSON is made in C now, like the lines."""
    need_root()
    for fmt in ("--json", "--ndjson"):
        code, modules = run_child(["pages", str(target.pid), "--areas", "[stack]", fmt])
        assert (code, modules) == (0, [])


def test_list_may_import_numpy(target: Target) -> None:
    """The check sees an import: --list finds its ranges with numpy."""
    code, modules = run_child(["pages", str(target.pid), "--areas", "[stack]", "--list"])
    assert code == 0 and "numpy" in modules


def test_unprivileged_text_paths_import_no_numpy(target: Target) -> None:
    """Without CAP_SYS_ADMIN (presence only, reasons instead of PFNs)."""
    need_root()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    drop = [setpriv, "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin"]
    for options in ([], ["--summary"]):
        code, modules = run_child(["pages", str(target.pid), *options], prefix=drop)
        assert (code, modules) == (0, [])

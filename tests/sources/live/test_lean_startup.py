"""``memlens maps PID`` and ``memlens procs`` load only what they need.

Their budgets are 1.5x ``pmap -X`` and 0.5x smem (benchmarks/bench_live.py), of
which the interpreter, argparse and the kernel's smaps walks take most: the
verbs must not load dataclasses (with inspect), typing, numpy, Rich or orjson.
``maps PID`` reads /proc/PID/smaps alone: the regions it lists come from the
maps lines heading smaps's blocks; the test compares them with /proc/PID/maps
read here.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import ROOT

#: runs main(argv) with stdout to a file; prints (exit code, heavy modules) on stderr
CHILD = """
import os, sys
from memlens.cli.main import main
os.dup2(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
code = main(sys.argv[2:])
sys.stdout.flush()
heavy = {"dataclasses", "typing", "inspect", "numpy", "rich", "orjson"}
print(repr((code, sorted({m.split(".")[0] for m in sys.modules} & heavy))), file=sys.stderr)
"""


def run_child(out: str, argv: list[str]) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", CHILD, out, *argv], capture_output=True,
                            text=True, env=env, check=True)  # fmt: skip
    code, modules = ast.literal_eval(result.stderr.strip().splitlines()[-1])
    return code, modules


def kernel_maps(pid: int) -> list[tuple[int, int, str, int, str]]:
    """(start, end, perms, offset, name) of every line of /proc/PID/maps."""
    rows = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.rstrip("\n").split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            rows.append((lo, hi, parts[1], int(parts[2], 16), parts[5] if len(parts) > 5 else ""))
    return rows


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_maps_of_a_pid_loads_no_heavy_module(sleeper: subprocess.Popen[bytes], tmp_path: Path,
                                             json_out: bool) -> None:  # fmt: skip
    out = str(tmp_path / "out")
    argv = ["maps", str(sleeper.pid)] + (["--json"] if json_out else [])
    code, heavy = run_child(out, argv)
    assert (code, heavy) == (0, [])
    with open(out) as f:
        text = f.read()
    expected = kernel_maps(sleeper.pid)
    if json_out:
        doc = json.loads(text)
        got = [(r["start"], r["end"], r["perms"], r["offset"], r["name"]) for r in doc["regions"]]
        assert got == expected
        # present pages come from pagemap: the stack has some, [vsyscall] has no entries
        stack = next(r for r in doc["regions"] if r["name"] == "[stack]")
        assert stack["resident_pages"] >= 1
    else:
        lines = text.splitlines()[1:-1]  # header and total row
        got_text = [(int(w[0], 16), int(w[1], 16), w[3], int(w[4], 16)) for w in
                    (ln.split() for ln in lines)]  # fmt: skip
        assert got_text == [row[:4] for row in expected]


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_procs_loads_no_heavy_module(sleeper: subprocess.Popen[bytes], tmp_path: Path,
                                     json_out: bool) -> None:  # fmt: skip
    out = str(tmp_path / "out")
    code, heavy = run_child(out, ["procs", str(sleeper.pid)] + (["--json"] if json_out else []))
    assert (code, heavy) == (0, [])
    with open(out) as f:
        text = f.read()
    if json_out:
        (row,) = json.loads(text)["processes"]
        assert (row["pid"], row["command"]) == (sleeper.pid, "sleep 600")
    else:
        assert text.splitlines()[1].split()[0] == str(sleeper.pid)


@pytest.mark.parametrize("options", [["--summary"], []], ids=["summary", "lines"])
def test_pages_of_a_pid_loads_no_heavy_module(sleeper: subprocess.Popen[bytes], tmp_path: Path,
                                              options: list[str]) -> None:  # fmt: skip
    """``pages PID`` reads maps and page tables without opening a snapshot (its budget:
    page-types's time for --summary); the regions it lists are /proc/PID/maps's."""
    out = str(tmp_path / "out")
    code, heavy = run_child(out, ["pages", str(sleeper.pid), *options])
    assert (code, heavy) == (0, [])
    with open(out) as f:
        text = f.read()
    if options:
        assert text.splitlines()[0].split()[:2] == ["kind", "state"]
    else:
        heads = [ln.split()[0].split("-") for ln in text.splitlines()
                 if len(ln) > 33 and ln[16] == "-"]  # fmt: skip
        assert [(int(a, 16), int(b, 16)) for a, b in heads] == [
            row[:2] for row in kernel_maps(sleeper.pid)]

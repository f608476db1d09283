"""A reader that stops early (``| head``): memlens stops quietly with exit 0, JSON or text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

ENV = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
MEMLENS = f"{sys.executable} -m memlens"


def test_demo_json_into_head() -> None:
    """demo --json is one document per line: the first line is all of maps's."""
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {MEMLENS} demo --json | head -1"],
                          capture_output=True, text=True, env=ENV, timeout=120)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    first = json.loads(done.stdout)
    assert (first["kind"], done.stdout.count("\n")) == ("maps", 1)
    assert any(r["name"] == "[anon:memlens-demo]" or r["size"] >= 63 << 20
               for r in first["regions"])  # fmt: skip


def test_json_bigger_than_a_pipe_into_head(fixtures_dir: Path) -> None:
    dump = fixtures_dir / "minidump" / "tiny-exe-with-cet-xsave.dmp"
    whole = subprocess.run([sys.executable, "-m", "memlens", "minidump", str(dump), "--json"],
                           capture_output=True, env=ENV, check=True).stdout  # fmt: skip
    assert len(whole) > 4 * 65536  # more than a pipe holds: the writer meets EPIPE
    json.loads(whole)
    child = subprocess.Popen([sys.executable, "-m", "memlens", "minidump", str(dump), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.read(100) == whole[:100]
    child.stdout.close()
    err = child.stderr.read()
    child.stderr.close()
    assert (child.wait(timeout=60), err) == (0, b"")

"""Run real MicroPython (its WebAssembly port from npm) and capture heap + mem_info."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
WORKLOADS = HERE / "workloads"


@dataclass(frozen=True)
class Capture:
    dump: Path
    texts: list[str]
    snapshot_size: int


def capture(out: Path, scripts: list[str], heapsize: int) -> Capture:
    """Run the scripts (names under workloads/) in one interpreter and capture."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Debian nodejs)")
    if not PACKAGE.is_dir():
        pytest.skip("MicroPython wasm package missing: scripts/setup --test runs npm ci there")
    args = [node, str(HERE / "capture.mjs"), "--heapsize", str(heapsize), "--out", str(out)]
    args += [str(WORKLOADS / s) for s in scripts]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads(proc.stdout.strip().splitlines()[-1])
    texts = [Path(f"{out}.{k}.txt").read_text() for k in range(meta["snapshots"])]
    return Capture(Path(f"{out}.bin"), texts, int(meta["snapshot_size"]))

"""Inputs for batch tests: real dumps from tests/data, compressed copies, corrupt ones."""

from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import pytest
import zstandard

DATA = Path(__file__).resolve().parent.parent / "data"

#: real crash dumps with a crash the readers decode
CRASHES = [
    "minidump/minidump2.dmp",
    "minidump/linux_raise_sigabrt.dmp",
    "minidump/linux_inline.dmp",
    "elfcore/core_linux64.elf",
    "elfcore/core_linux32.elf",
]


@pytest.fixture(scope="session")
def fleet_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of inputs: the real dumps, compressed copies (gz, bz2 as published, zst)
    of some, and three broken files."""
    root = tmp_path_factory.mktemp("fleet")
    for rel in CRASHES:
        shutil.copy(DATA / rel, root / Path(rel).name)
    shutil.copy(DATA / "elfcore/multiarch/backtrace.x86_64.core.bz2", root / "x86_64.core.bz2")
    raw = (DATA / "minidump/minidump2.dmp").read_bytes()
    (root / "sub").mkdir()
    (root / "sub" / "again.dmp.gz").write_bytes(gzip.compress(raw + b"\0"))  # another content
    core = (DATA / "elfcore/core_linux64.elf").read_bytes()
    (root / "sub" / "again.elf.zst").write_bytes(zstandard.ZstdCompressor().compress(core + b"\0"))
    (root / "truncated.dmp").write_bytes(raw[:200])
    (root / "noise.bin").write_bytes(bytes(range(256)) * 4)
    (root / "bad.dmp.bz2").write_bytes(bz2.compress(raw)[:100])  # a cut compressed stream
    return root

"""Shared test helpers: compiling C programs, starting processes, fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"test data missing at {FIXTURES}")
    return FIXTURES


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup --test installs it as root)")
    return path


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (CAP_SYS_ADMIN) for PFNs and kpageflags")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("build")


def compile_c(source: str, out: Path, *flags: str) -> Path:
    """Compile C source text with gcc into ``out``; returns ``out``."""
    need_tool("gcc")
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-g", "-o", str(out), str(src), *flags], check=True)
    return out


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Collects started processes and kills them at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()

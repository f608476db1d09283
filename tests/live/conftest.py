"""Processes the live tests read: the page target and a plain sleeper."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.live.pagetarget import Target, start_sleeper, start_target


@pytest.fixture(scope="module")
def target(build_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """tests/live/pagetarget.c running, one per test module."""
    t = start_target(build_dir, tmp_path_factory.mktemp("pagetarget"))
    yield t
    t.proc.kill()
    t.proc.wait()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """``sleep 600``, fully loaded (every mapping in place)."""
    p = start_sleeper()
    yield p
    p.kill()
    p.wait()

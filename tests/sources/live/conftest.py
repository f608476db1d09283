"""Processes the live tests read: the page target and a plain sleeper."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.sources.live.pagetarget import Target, start_sleeper, start_target


@contextmanager
def huge_pages_reserved(count: int = 2) -> Iterator[None]:
    """As root, raise ``vm.nr_hugepages`` by ``count`` while the block runs when no
    huge page is free (so the target can map hugetlb memory), and put it back after."""
    setting = Path("/proc/sys/vm/nr_hugepages")
    free = Path("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
    try:
        before = int(setting.read_text())
        needed = free.exists() and int(free.read_text()) == 0 and os.geteuid() == 0
    except (OSError, ValueError):
        needed = False
    if not needed:
        yield
        return
    try:
        setting.write_text(str(before + count))
    except OSError:
        yield
        return
    try:
        yield
    finally:
        setting.write_text(str(before))


@pytest.fixture(scope="module")
def target(build_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """tests/sources/live/pagetarget.c running, one per test module."""
    with huge_pages_reserved():
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

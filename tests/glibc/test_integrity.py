"""Heaps corrupted on purpose are reported at the right chunk, never with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from memlens.glibc.walk import walk_heap
from memlens.targets import open_target
from tests.glibc.programs import build, gcore, parse_figures, running


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("corrupt", tmp_path_factory.mktemp("glibc"))


def test_overflow_into_next_size(corrupt: Path, tmp_path: Path) -> None:
    with running(corrupt, "overflow") as (proc, line):
        core = gcore(proc.pid, tmp_path / "core")
    addr = parse_figures(line)
    with open_target(str(core)) as snap:
        walk = walk_heap(snap)
    assert not walk.complete
    first = walk.findings[0]
    assert first.check == "chunk size"
    assert first.chunk == addr["b"] - 16
    assert first.previous == addr["a"] - 16
    assert "0x4141414141414141" in first.message
    # the words from the chunk before: its header, then the overflow over b's header
    assert first.words[1] == 0x21 and first.words[2:6] == (0x4141414141414141,) * 4
    # the chunks before the damage are still listed
    assert int(walk.chunks.address.max()) >= addr["a"] - 16


def test_double_free_into_tcache(corrupt: Path, tmp_path: Path) -> None:
    with running(corrupt, "double") as (proc, line):
        core = gcore(proc.pid, tmp_path / "core")
    addr = parse_figures(line)
    with open_target(str(core)) as snap:
        walk = walk_heap(snap)
    double = [f for f in walk.findings if f.check == "tcache double free"]
    assert [f.chunk for f in double] == [addr["b"] - 16]
    assert walk.complete


def test_clean_heap_has_no_findings(corrupt: Path, tmp_path: Path) -> None:
    with running(corrupt, "none") as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
    with open_target(str(core)) as snap:
        walk = walk_heap(snap)
    assert walk.findings == []


def test_core_of_a_crash_in_free(corrupt: Path, tmp_path: Path) -> None:
    """The first thing wanted from a core that died in free(): the damaged chunk."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern {pattern!r} sends cores elsewhere")
    with running(corrupt, "crash", cwd=tmp_path, core_limit=True) as (proc, line):
        assert proc.wait(timeout=60) == -6  # SIGABRT from glibc's check
    cores = [p for p in tmp_path.iterdir() if p.name == "core" or p.name.startswith("core.")]
    if not cores:
        pytest.skip("the kernel wrote no core")
    addr = parse_figures(line)
    with open_target(str(cores[0])) as snap:
        walk = walk_heap(snap)
    assert snap.crash is None or snap.crash.signal in (None, 6)
    first = walk.findings[0]
    assert (first.check, first.chunk, first.previous) == ("chunk size", addr["b"] - 16,
                                                          addr["a"] - 16)  # fmt: skip

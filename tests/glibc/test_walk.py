"""The walk's totals equal the target's own mallinfo2(), printed at the dump point.

mallinfo2's figures are glibc's own sums over its lists; memlens computes them
from the chunks its walk classified (free = fastbin + bins + top, mmapped =
chunks found in their own mappings), so an equal figure means every free
chunk was found by the walk *and* in its list.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from memlens.glibc.chunktable import State
from memlens.glibc.walk import walk_heap
from memlens.sources.live.coredump import snapshot_process
from memlens.targets import open_target
from tests.glibc.programs import build, gcore, kernel_core, parse_figures, running

CASES = [
    ("1", ""),  # one thread, nothing freed: tcache empty
    ("1", "f"),  # tcache full, fastbins
    ("1", "bm"),  # unsorted/small/large bins, mmapped chunks
    ("8", "fbm"),  # 8 arenas, all of it
    ("8", "fbmt"),  # and malloc_trim(0)
]


@pytest.fixture(scope="module")
def arenas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("arenas", tmp_path_factory.mktemp("glibc"))


def _check(target: str, line: str) -> None:
    expected = parse_figures(line)
    with open_target(target) as snap:
        walk = walk_heap(snap)
    # libc6-dbg's debug file when installed (scripts/system-packages.txt), else by structure
    assert walk.method.startswith(("symbols: main_arena in ", "structure: "))
    assert walk.findings == []
    assert walk.complete
    assert walk.mallinfo() == expected
    if walk.mp is not None:  # mp_ agrees with the mmapped chunks found
        assert (walk.mp.n_mmaps, walk.mp.mmapped_mem) == (expected["hblks"], expected["hblkhd"])
        assert not [n for n in walk.notes if n.startswith("mp_ counts")]


@pytest.mark.parametrize(("threads", "modes"), CASES)
def test_gcore_matches_mallinfo2(arenas: Path, tmp_path: Path, threads: str, modes: str) -> None:
    with running(arenas, threads, modes) as (proc, line):
        core = gcore(proc.pid, tmp_path / "core")
    _check(str(core), line)


@pytest.mark.parametrize(("threads", "modes"), [("1", "f"), ("8", "fbm")])
def test_live_matches_mallinfo2(arenas: Path, threads: str, modes: str) -> None:
    with running(arenas, threads, modes) as (proc, line):
        _check(str(proc.pid), line)
        # read without stopping it: not left stopped or traced
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert "TracerPid:\t0" in status and "(stopped)" not in status


def test_kernel_core_matches_mallinfo2(arenas: Path, tmp_path: Path) -> None:
    with running(arenas, "8", "fbm", cwd=tmp_path, core_limit=True) as (proc, line):
        core = kernel_core(proc, tmp_path)
    _check(str(core), line)


def test_memlens_snapshot_matches_mallinfo2(arenas: Path, tmp_path: Path) -> None:
    with running(arenas, "8", "fbm") as (proc, line):
        core = tmp_path / "snap.core"
        snapshot_process(proc.pid, str(core), stop=True)
    _check(str(core), line)


def test_every_chunk_is_classified(arenas: Path, tmp_path: Path) -> None:
    with running(arenas, "8", "fbm") as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
    with open_target(str(core)) as snap:
        walk = walk_heap(snap)
    states = set(walk.chunks.state.tolist())
    assert State.FREE_UNBINNED not in states
    assert {State.IN_USE, State.TCACHE, State.SMALLBIN, State.LARGEBIN,
            State.TOP, State.MMAPPED, State.ALLOCATOR} <= states  # fmt: skip
    assert len(walk.arenas) == 8
    assert len(walk.tcaches) == 8
    assert walk.safe_linking is True
    # chunks of one arena tile its heaps exactly
    for a in walk.arenas:
        rows = walk.chunks.arena == a.index
        assert int(walk.chunks.size[rows].sum()) == sum(e - s for s, e in a.heaps)


@pytest.fixture(scope="module")
def arenas32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build("arenas", tmp_path_factory.mktemp("glibc32"), "-m32")
    except subprocess.CalledProcessError:
        pytest.skip("no 32-bit toolchain (gcc-multilib)")


@pytest.mark.parametrize(("threads", "modes"), [("1", ""), ("1", "f"), ("1", "bmt"),
                                                ("8", "fbm")])  # fmt: skip
def test_i386_gcore_matches_mallinfo2(arenas32: Path, tmp_path: Path, threads: str,
                                      modes: str) -> None:  # fmt: skip
    """i386: 11 fastbins, 4-byte words, 1 MiB heaps; no i386 debug symbols here, so the
    arena is found by its structure."""
    with running(arenas32, threads, modes) as (proc, line):
        core = gcore(proc.pid, tmp_path / "core")
    with open_target(str(core)) as snap:
        walk = walk_heap(snap)
    assert walk.layout.word == 4 and walk.layout.nfastbins == 11
    assert walk.method.startswith(("structure: ", "symbols: "))
    assert walk.findings == [] and walk.complete
    assert walk.mallinfo() == parse_figures(line)
    # 8 threads share 4 arenas (2 per core on 32-bit): tcaches found by content too
    assert len(walk.tcaches) == int(threads)


def test_i386_live_matches_mallinfo2(arenas32: Path) -> None:
    """The live source reads a 32-bit process as 8-byte words; the walk reads the
    program's ELF class and walks 4-byte words."""
    with running(arenas32, "8", "fbm") as (proc, line):
        with open_target(str(proc.pid)) as snap:
            walk = walk_heap(snap)
        assert walk.layout.word == 4 and walk.findings == []
        assert walk.mallinfo() == parse_figures(line)

"""Python heaps against the peers: CPython's tracemalloc and memray, run on the same
workloads (memray in the same test where it is installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from heap_helpers import report_of
from python_progs import marker_line

from memlens.heap.runner import RunOptions, run_under_shim

needs_311 = pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="layouts are for 3.11")


@needs_311
@pytest.mark.slow
def test_without_pymalloc_blocks_at_a_line_equal_tracemallocs(tmp_path: Path) -> None:
    """PYTHONMALLOC=malloc: every object is a block; the live blocks and bytes of one
    line equal what CPython's own tracemalloc counts for it (run without memlens)."""
    script = tmp_path / "ints.py"
    script.write_text(textwrap.dedent("""\
        import ctypes
        import sys
        import tracemalloc


        def build(n):
            return [i for i in range(n)]  # ALLOC-INTS


        if sys.argv[1:2] == ["trace"]:
            tracemalloc.start()
        keep = build(100_000)
        if sys.argv[1:2] == ["trace"]:
            stats = tracemalloc.take_snapshot().statistics("lineno")
            here = [s for s in stats if s.traceback[0].lineno == int(sys.argv[2])]
            print(sum(s.count for s in here), sum(s.size for s in here))
        else:
            ctypes.CDLL(None).memlens_snapshot(b"built")
    """))
    line = marker_line(script.read_text(), "ALLOC-INTS")
    env = {"PYTHONMALLOC": "malloc"}
    traced = subprocess.run([sys.executable, str(script), "trace", str(line)], check=True,
                            capture_output=True, text=True, env=env)  # fmt: skip
    count, size = (int(x) for x in traced.stdout.split())
    assert count > 99_000  # the 100 000 ints but the interpreter's cached small ones

    result = run_under_shim([sys.executable, str(script)],
                            RunOptions(out_dir=str(tmp_path / "out"), pymalloc=False))  # fmt: skip
    assert result.returncode == 0, result.errors
    (taken,) = [s for s in result.snapshots if s.reason == "built"]
    report = report_of(taken.profile)
    at_line = [
        g for g in report.groups
        if [f.line for f in g.frames if f.file == str(script)][:1] == [line]
    ]  # fmt: skip
    assert (sum(g.count for g in at_line), sum(g.bytes for g in at_line)) == (count, size)


MEMRAY_WORKLOAD = """\
import ctypes
import sys


def make_table():
    return {i: None for i in range(400_000)}  # SITE-1


def make_strs():
    return ["s%d" % i for i in range(300_000)]  # SITE-2


def make_ints():
    return list(range(500_000))  # SITE-3


def make_blob():
    return bytes(12_000_000)  # SITE-4


def make_arr():
    return bytearray(9_000_000)  # SITE-5


def work():
    return [make_table(), make_strs(), make_blob(), make_arr(), make_ints()]


if sys.argv[1] == "memray":
    import memray

    with memray.Tracker(sys.argv[2]):
        keep = work()
else:
    keep = work()
    ctypes.CDLL(None).memlens_snapshot(b"built")
"""


@needs_311
@pytest.mark.slow
def test_live_bytes_per_python_line_agree_with_memray(tmp_path: Path) -> None:
    """memray's live allocations at the end of its tracker and memlens's snapshot at
    the same point: the same five lines lead, in the same order, with the same bytes
    (within 2%, or one pymalloc arena: both attribute an arena whole to the line
    that opened it, and where one opens depends on what the tool itself left in
    the previous one)."""
    memray = pytest.importorskip("memray")
    script = tmp_path / "work.py"
    script.write_text(MEMRAY_WORKLOAD)
    capture = tmp_path / "m.bin"
    subprocess.run([sys.executable, str(script), "memray", str(capture)], check=True)
    theirs: dict[int, int] = {}
    for rec in memray.FileReader(str(capture)).get_leaked_allocation_records(merge_threads=True):
        here = [f for f in rec.stack_trace() if f[1] == str(script)]
        if here:
            theirs[here[0][2]] = theirs.get(here[0][2], 0) + rec.size

    result = run_under_shim([sys.executable, str(script), "memlens"],
                            RunOptions(out_dir=str(tmp_path / "out")))  # fmt: skip
    (taken,) = [s for s in result.snapshots if s.reason == "built"]
    ours: dict[int, int] = {}
    for g in report_of(taken.profile).groups:
        here = [f for f in g.frames if f.file == str(script)]
        if here and here[0].line is not None:
            ours[here[0].line] = ours.get(here[0].line, 0) + g.bytes

    text = script.read_text()
    sites = [marker_line(text, f"SITE-{k}") for k in range(1, 6)]

    def top5(d: dict[int, int]) -> list[int]:
        return sorted(d, key=lambda line: -d[line])[:5]

    assert top5(theirs) == sites
    assert top5(ours) == sites
    arena = 1 << 20  # ARENA_SIZE of 3.11's pymalloc (with its radix tree)
    for line in sites:
        assert abs(ours[line] - theirs[line]) <= max(0.02 * theirs[line], arena + 4096), line


MEMRAY_OBJECTS = """\
import ctypes
import json
import sys
from concurrent.futures import ThreadPoolExecutor

TEXT = json.dumps([{"id": i, "name": "user-%d" % i, "tags": ["a", "bb"]} for i in range(20_000)])


def load():
    return json.loads(TEXT)  # SITE-JSON


def rows(k):
    return [[j, k] for j in range(12_000)]  # SITE-ROWS


def pool():
    with ThreadPoolExecutor(8) as ex:
        return list(ex.map(rows, range(8)))


def work():
    return [load(), pool()]


if sys.argv[1] == "memray":
    import memray

    with memray.Tracker(sys.argv[2], trace_python_allocators=True):
        keep = work()
else:
    keep = work()
    ctypes.CDLL(None).memlens_snapshot(b"built")
"""


@needs_311
@pytest.mark.slow
def test_every_object_per_line_agrees_with_memray_tracing_pymalloc(tmp_path: Path) -> None:
    """A JSON load and a pool of 8 threads: with --no-pymalloc, the live blocks and
    bytes of each line are memray's with trace_python_allocators (its record of
    every pymalloc object) within 1%."""
    memray = pytest.importorskip("memray")
    script = tmp_path / "objects.py"
    script.write_text(MEMRAY_OBJECTS)
    capture = tmp_path / "m.bin"
    subprocess.run([sys.executable, str(script), "memray", str(capture)], check=True)
    theirs: dict[int, list[int]] = {}
    for rec in memray.FileReader(str(capture)).get_leaked_allocation_records(merge_threads=True):
        here = [f for f in rec.stack_trace() if f[1] == str(script)]
        if here:
            row = theirs.setdefault(here[0][2], [0, 0])
            row[0] += rec.n_allocations
            row[1] += rec.size

    result = run_under_shim([sys.executable, str(script), "memlens"],
                            RunOptions(out_dir=str(tmp_path / "out"), pymalloc=False))  # fmt: skip
    (taken,) = [s for s in result.snapshots if s.reason == "built"]
    ours: dict[int, list[int]] = {}
    for g in report_of(taken.profile).groups:
        here = [f for f in g.frames if f.file == str(script)]
        if here and here[0].line is not None:
            row = ours.setdefault(here[0].line, [0, 0])
            row[0] += g.count
            row[1] += g.bytes

    text = script.read_text()
    for marker in ("SITE-JSON", "SITE-ROWS"):
        line = marker_line(text, marker)
        (their_blocks, their_bytes), (our_blocks, our_bytes) = theirs[line], ours[line]
        assert their_blocks > 100_000, marker
        assert abs(our_blocks - their_blocks) <= 0.01 * their_blocks, marker
        assert abs(our_bytes - their_bytes) <= 0.01 * their_bytes, marker

"""A real program against valgrind: CPython leaking through a C extension.

CPython runs ``progs/leaky.py`` with ``PYTHONMALLOC=malloc`` (under valgrind
it bypasses pymalloc anyway; natively it must too, or the objects are not
malloc blocks) and stops at the extension's check point: valgrind's
``VALGRIND_DO_LEAK_CHECK`` there, and natively -- under memlens's shim, so
blocks carry their stacks -- a gcore there.  What must agree: the
extension's leaks, found with the stack that made them (lose_list: 1
definitely lost head, 100 indirectly lost nodes; keep_middle: 1 possibly lost
block), and the lost classes of the whole program.  What cannot, exactly:
the split of the interpreter's own blocks between possibly lost and still
reachable.  Natively glibc hands a freed chunk straight back out, so a stale
word left behind (in the frame stack's unused part, in a resized table) that
pointed to a freed object now points to the *start* of a new block, where
under valgrind -- which keeps freed blocks out of circulation -- it points
to no block; so memlens finds some blocks reachable that valgrind calls
possibly lost, never the other way round (valgrind with ``--freelist-vol=0``
moves the same way).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from memlens.glibc.leakreport import LeakReport, leak_report
from memlens.heap.runner import shim_path
from memlens.targets import open_target
from tests.glibc import memcheck
from tests.glibc.programs import HERE, gcore, need, running

ENV = {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}


def build_extension(out: Path) -> Path:
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").exists():
        pytest.skip(f"no Python.h in {include} (the interpreter's headers)")
    run = subprocess.run([need("gcc"), "-g", "-O0", "-shared", "-fPIC", f"-I{include}",
                          "-o", str(out / "leakext.so"), str(HERE / "leakext.c")],
                         capture_output=True)  # fmt: skip
    if run.returncode and b"valgrind/memcheck.h" in run.stderr:
        pytest.skip("valgrind's headers are not installed (the valgrind package)")
    run.check_returncode()
    script = out / "leaky.py"
    script.write_text((HERE / "leaky.py").read_text())
    return script


def _through(report: LeakReport, function: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(class, function) -> (blocks, bytes) of the groups whose stack passes through it."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for g in report.groups:
        if any(f.function == function for f in g.stack):
            blocks, size = out.get((g.kind, function), (0, 0))
            out[(g.kind, function)] = (blocks + g.count, size + g.bytes)
    return out


@pytest.mark.slow
def test_cpython_extension_leaks_equal_valgrinds(tmp_path: Path) -> None:
    script = build_extension(tmp_path)
    argv = [sys.executable, "-S", str(script)]
    valgrind = memcheck.run_memcheck(argv, env=ENV)
    with running(Path(sys.executable), "-S", str(script), cwd=tmp_path,
                 env={**ENV, "LD_PRELOAD": shim_path()}) as (proc, _):  # fmt: skip
        core = gcore(proc.pid, tmp_path / "core")
    with open_target(str(core)) as snap:
        ours = leak_report(snap, reachable_groups=True)
    theirs = memcheck.summary(valgrind)
    rows = memcheck.records(valgrind)
    # the extension's leaks, with their stacks, exactly
    for function, expected in (("lose_list", {("definitely lost", "lose_list"): (1, 24),
                                              ("indirectly lost", "lose_list"): (100, 2400)}),
                               ("keep_middle", {("possibly lost", "keep_middle"): (1, 56)})):
        assert memcheck.by_function(rows, pick=function) == expected
        assert _through(ours, function) == expected
    # nothing else is lost, for either tool
    for kind in ("definitely lost", "indirectly lost"):
        assert ours.summary[kind] == theirs[kind], kind
    # the interpreter's blocks: stale start pointers only move blocks from possibly
    # lost to still reachable (see above); the blocks in use are the same program's
    ours_possible, ours_reachable = ours.summary["possibly lost"], ours.summary["still reachable"]
    assert ours_possible[0] <= theirs["possibly lost"][0]
    assert ours_reachable[0] >= theirs["still reachable"][0]
    in_use = ours_possible[0] + ours_reachable[0]
    assert abs(in_use - theirs["possibly lost"][0] - theirs["still reachable"][0]) < in_use // 100

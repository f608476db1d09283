"""The shim on real programs: the seed's expectations, threads, aligned allocators, C++, Python."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from collections import Counter
from pathlib import Path

import heap_programs as progs
import pytest
from heap_helpers import (
    build,
    functions,
    live_profile,
    report_of,
    shim_env,
    start_under_shim,
)

from memlens.heap.profile_file import read
from memlens.heap.report import Filters, build_report, symbolize_with
from memlens.heap.runner import RunOptions, run_under_shim
from memlens.heap.symbolize import symbolizer_for_profile
from memlens.render.heaptext import write_flat


def test_seed_expectations_with_a_snapshot_after_each_phase(tmp_path: Path) -> None:
    exe = build(progs.SEED, tmp_path / "seed", "-O0")  # as the seed: malloc stays
    result = run_under_shim([str(exe)], RunOptions(out_dir=str(tmp_path / "out")))
    assert result.returncode == 0
    assert [s.reason for s in result.snapshots] == ["request", "request", "exit"]
    first, second = (report_of(read(s.path)) for s in result.snapshots[:2])

    top = first.groups[0]
    assert top.bytes == 1048576 and top.count == 8
    assert sorted(top.sizes) == [131071] * 4 + [131073] * 4
    assert functions(first, 0)[:2] == ["example_func", "main"]
    assert not any(g.bytes == 1048576 and g.count == 1 for g in first.groups)

    by_fn = {functions(second, i)[0]: g for i, g in enumerate(second.groups) if g.frames}
    assert by_fn["another_func"].sizes == (1048576,)
    assert by_fn["example_func"].bytes == 1048576
    text = io.StringIO()
    write_flat(second, text)
    out = text.getvalue()
    assert "\n" + f"{int(second.percent(by_fn['another_func']))}% 1048576 [1048576]\n" in out
    # Address order, as the seed printed them: 131073 and 131071 alternate.
    sizes = by_fn["example_func"].sizes
    assert all(a != b for a, b in itertools.pairwise(sizes))
    assert "example_func" in out and "another_func" in out


def test_two_threads_leave_1024_blocks_each(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    exe = build(progs.THREADS, tmp_path / "threads", "-O0", "-lpthread")
    proc, line = start_under_shim([str(exe)], spawn)
    assert line == "ready\n"
    report = report_of(live_profile(proc.pid))
    mine = [i for i, g in enumerate(report.groups) if "make_blocks" in functions(report, i)]
    assert len(mine) == 2
    for i in mine:
        g = report.groups[i]
        assert (g.count, g.bytes, set(g.sizes)) == (1024, 1024, {1})
    callers = {functions(report, i)[1] for i in mine}
    assert callers == {"main", "thread_func"}
    blocks = live_profile(proc.pid).blocks
    one_byte = blocks.tid[blocks.size == 1]
    tids = sorted({int(t) for t in one_byte})
    assert len(tids) == 2 and proc.pid in tids  # the main thread's id is the pid
    assert [int((one_byte == t).sum()) for t in tids] == [1024, 1024]


def test_aligned_allocators_free_cleanly_and_keep_sizes(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    exe = build(progs.MEMALIGN, tmp_path / "memalign")
    proc, line = start_under_shim([str(exe)], spawn)
    assert line.startswith("ok 0x"), line
    keep = int(line.split()[1], 16)
    profile = live_profile(proc.pid)
    addr = list(profile.blocks.address)
    assert keep in addr
    assert int(profile.blocks.size[addr.index(keep)]) == 12345


def test_realloc_chains_keep_exact_sizes(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    exe = build(progs.REALLOC, tmp_path / "realloc")
    proc, line = start_under_shim([str(exe)], spawn)
    assert line == "ok\n"
    report = report_of(live_profile(proc.pid))
    sizes = {
        (functions(report, i)[0], g.sizes) for i, g in enumerate(report.groups)
        if g.frames and functions(report, i)[0] in ("grow", "shrink")
    }  # fmt: skip
    assert sizes == {("grow", (100000,)), ("grow", (21,)), ("shrink", (777,))}


def test_cxx_new_reaches_the_shim(tmp_path: Path, spawn: list[subprocess.Popen[bytes]]) -> None:
    exe = build(progs.CXX, tmp_path / "cxx", cxx=True)
    proc, line = start_under_shim([str(exe)], spawn)
    assert line == "ready 10\n"
    report = report_of(live_profile(proc.pid))
    widgets = [g for g in report.groups if g.sizes and set(g.sizes) == {4000}]
    assert len(widgets) == 1 and widgets[0].count == 10
    names = [f.function or "" for f in widgets[0].frames]
    assert names[0].startswith("_Znwm") or names[0].startswith("operator new"), names
    assert any("make_widgets" in n for n in names)


def test_python_under_the_shim_has_interpreter_frames(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    code = (
        "import signal\nbig = [bytearray(100000) for _ in range(20)]\n"
        "print('ready', flush=True)\nsignal.pause()\n"
    )
    # Every native frame recorded (the default keeps none above the Python frames).
    proc, line = start_under_shim([sys.executable, "-c", code], spawn, MEMLENS_NATIVE="1")
    assert line == "ready\n"
    proc_profile = live_profile(proc.pid)
    report = report_of(proc_profile)
    big = [g for g in report.groups if g.count >= 20 and min(g.sizes) >= 100000]
    assert big, "the 20 bytearrays of 100000 bytes are missing"
    mods = {f.module.rsplit("/", 1)[-1] for f in big[0].frames if f.module}
    assert any("python" in m for m in mods), mods
    # The eval loop's frame became the Python frames it ran (test_python.py has more).
    py = [(f.function, f.line) for f in big[0].frames if f.file == "<string>"]
    assert py == [("<listcomp>", 2), ("<module>", 2)]
    native = build_report(proc_profile, symbolize_with(symbolizer_for_profile(proc_profile)),
                          Filters(native=True))  # fmt: skip
    (nbig,) = [g for g in native.groups if g.count >= 20 and min(g.sizes) >= 100000]
    outer = [f.function or "" for f in nbig.frames]
    assert any(f.startswith("_PyEval_EvalFrame") for f in outer), outer


def test_crash_snapshot_then_the_default_action(tmp_path: Path) -> None:
    exe = build(progs.CRASH, tmp_path / "crash")
    result = run_under_shim([str(exe)], RunOptions(out_dir=str(tmp_path / "out")))
    assert result.returncode == -11
    assert [s.reason for s in result.snapshots] == ["crash:11"]
    report = report_of(result.snapshots[0].profile)
    g = next(g for i, g in enumerate(report.groups) if "before_crash" in functions(report, i))
    assert (g.count, g.bytes) == (5, 5 * 3333)


@pytest.mark.slow
def test_sixteen_threads_churn_with_fork_for_ten_seconds(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    exe = build(progs.CHURN, tmp_path / "churn", "-lpthread")
    proc = subprocess.Popen([str(exe), "10"], env=shim_env(), stdout=subprocess.PIPE)
    spawn.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("live "), f"churn failed: {line!r} (exit {proc.poll()})"
    live, forks = int(line.split()[1]), int(line.split()[3])
    own: dict[int, int] = {}
    for _ in range(16):
        _, tid, count = proc.stdout.readline().decode().split()
        own[int(tid)] = int(count)
    assert forks >= 10
    assert sum(own.values()) == live and len(own) == 16
    profile = live_profile(proc.pid)
    b = profile.blocks
    workers = (b.size >= 1000) & (b.size < 2000) & (b.tid != proc.pid)  # main thread: start-up
    assert int(workers.sum()) == live
    # Every thread's live records, by the thread id in the record, equal its own count.
    found = Counter(int(t) for t in b.tid[workers])
    assert {tid: found.get(tid, 0) for tid in own} == own


def test_frame_pointer_unwinder_on_a_frame_pointer_build(tmp_path: Path) -> None:
    exe = build(progs.SEED, tmp_path / "seed", "-O0", "-fno-omit-frame-pointer")
    result = run_under_shim([str(exe)], RunOptions(out_dir=str(tmp_path / "o"), unwind="fp"))
    report = report_of(result.snapshots[0].profile)
    top = report.groups[0]
    assert (top.bytes, top.count) == (1048576, 8)
    assert functions(report, 0)[:2] == ["example_func", "main"]

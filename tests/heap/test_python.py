"""Python programs under the shim: allocation sites as Python lines, native frames
beneath, from ``memlens run``, a live process, a gdb core and a kernel core, under every
CPython version the shim knows that is installed here.

Oracles: the script's own text (a marker comment names each allocating line),
``go tool pprof`` for the pprof export.
"""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from heap_helpers import live_profile, need_tool, report_of, shim_env
from python_progs import check_sites, innermost_python, marker_line, write_script

import memlens
from memlens.cli.main import main
from memlens.heap.profile_file import loads
from memlens.heap.report import Filters, HeapReport, build_report, profile_from_snapshot
from memlens.heap.report import symbolize_with as symbolize_using
from memlens.heap.symbolize import symbolizer_for_profile


@pytest.mark.slow
def test_run_names_python_lines_and_native_frames_beneath(
    tmp_path: Path, python: str, capsys: pytest.CaptureFixture[str]
) -> None:
    end = "import ctypes; ctypes.CDLL(None).memlens_snapshot(b'built')"
    script = write_script(tmp_path, end, python)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "memlens", "run", "--native", "--out", str(out),
                           "--", python, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (snap,) = out.glob("*-built.mlheap")
    profile = loads(snap.read_bytes(), str(snap))  # names saved with the file
    profile.loaded = None
    check_sites(report_of(profile), script)
    text = script.read_text()

    native = build_report(profile, symbolize_using(symbolizer_for_profile(profile)),
                          Filters(native=True))  # fmt: skip
    _, funcs, _ = innermost_python(native, "build_table")
    # --native: the interpreter's frames above the Python frames stay (the
    # script was run as a file), in order, after the script's frames.
    outer = funcs[funcs.index("<module>") + 1 :]
    assert outer.index("pyrun_file") < outer.index("_PyRun_AnyFileObject"), outer
    # pprof keeps each Python line apart (go tool pprof is the oracle here).
    go = shutil.which("go")
    if go is not None:
        pb = tmp_path / "heap.pb.gz"
        assert main(["heap", str(snap), "--as", "pprof", "-o", str(pb)]) == 0
        top = subprocess.run([go, "tool", "pprof", "-top", "-cum", "-lines",
                              "-sample_index=inuse_space", str(pb)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        sites = (("build_table", "ALLOC-TABLE"), ("two_lines", "ALLOC-FIRST"),
                 ("two_lines", "ALLOC-SECOND"))  # fmt: skip
        for fn, marker in sites:
            assert f"{fn} {script}:{marker_line(text, marker)}" in top, top
    # Folded stacks (flame graphs): each Python line a node of its own, outermost first.
    assert main(["heap", str(snap), "--as", "folded"]) == 0
    folded = capsys.readouterr().out.splitlines()
    name = script.name
    want = (f"<module> ({name}:{marker_line(text, 'CALL-TWO')});"
            f"two_lines ({name}:{marker_line(text, 'ALLOC-FIRST')})")  # fmt: skip
    second = want.replace(f"{name}:{marker_line(text, 'ALLOC-FIRST')}",
                          f"{name}:{marker_line(text, 'ALLOC-SECOND')}")  # fmt: skip
    assert any(want in line for line in folded) and any(second in line for line in folded)
    # sorted()'s own C frames sit between the callback and the Python code calling sorted().
    _, funcs, _ = innermost_python(native, "callback")
    between = funcs[funcs.index("callback") + 1 : funcs.index("sort_with_callback")]
    assert "builtin_sorted" in between, between


@pytest.mark.slow
def test_gcore_of_a_sleeping_script_gives_the_same_python_frames(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]], python: str
) -> None:
    gdb = need_tool("gdb")
    script = write_script(tmp_path, "print('ready', flush=True)\nsys.stdin.read()", python)
    proc = subprocess.Popen([python, str(script)], cwd=tmp_path, env=shim_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    spawn.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    live = report_of(live_profile(proc.pid))
    core = tmp_path / "py.core"
    subprocess.run([gdb, "-p", str(proc.pid), "-batch", "-ex", f"gcore {core}"],
                   check=True, capture_output=True)  # fmt: skip
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with memlens.open(str(core)) as snap:  # the process is gone: names come from the core
        from_core = report_of(profile_from_snapshot(snap))
    check_sites(from_core, script)
    check_sites(live, script)

    # The script's own sites: all made before it said "ready".  The stdin read
    # after it allocates its buffer at some moment between the live scan and
    # gcore (a race seen under load), so sites at that line are left out.
    reading = script.read_text().splitlines().index("sys.stdin.read()") + 1

    def sites(r: HeapReport) -> list[tuple[object, ...]]:
        return [
            (g.bytes, tuple((f.function, f.file, f.line) for f in g.frames))
            for g in r.groups
            if any(f.file == str(script) for f in g.frames)
            and not any(f.file == str(script) and f.line == reading for f in g.frames)
        ]

    assert len(sites(live)) >= 5
    assert sites(from_core) == sites(live)


@pytest.mark.slow
def test_kernel_core_of_a_crashed_interpreter_names_its_python_lines(
    tmp_path: Path, python: str
) -> None:
    """The interpreter dies of SIGSEGV under the shim; its kernel core alone gives
    the same Python sites as the live tests."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"kernel cores go elsewhere (core_pattern {pattern!r})")
    end = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    script = write_script(tmp_path, end, python)

    def core_limit() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    done = subprocess.run([python, str(script)], cwd=tmp_path, env=shim_env(),
                          preexec_fn=core_limit, capture_output=True)  # fmt: skip
    assert done.returncode == -signal.SIGSEGV, done.stderr
    cores = [p for p in tmp_path.iterdir() if p.name == "core" or p.name.startswith("core.")]
    if not cores:
        pytest.skip("the kernel wrote no core (core_pattern / rlimit / filesystem)")
    with memlens.open(str(cores[0])) as snap:
        check_sites(report_of(profile_from_snapshot(snap)), script)


@pytest.mark.slow
def test_sampled_mode_keeps_python_frames(tmp_path: Path) -> None:
    """--sample: the sampled blocks carry the same Python frames; the dict's table
    (10 MiB, far above the 256 KiB period) is sampled and leads the estimate."""
    end = "import ctypes; ctypes.CDLL(None).memlens_snapshot(b'built')"
    script = write_script(tmp_path, end, sys.executable)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "memlens", "run", "--sample", "262144",
                           "--out", str(out), "--", sys.executable, str(script)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (snap,) = out.glob("*-built.mlheap")
    report = report_of(loads(snap.read_bytes(), str(snap)))
    assert report.sampled
    i, _, line = innermost_python(report, "build_table")
    assert (i, line) == (0, marker_line(script.read_text(), "ALLOC-TABLE"))

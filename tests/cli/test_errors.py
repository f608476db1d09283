"""User errors end with one line naming what is wrong; files memlens writes name path and reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memlens.cli.output import OutputError, make_output_dir, output_bytes, output_text
from memlens.heap.runner import RunOptions, run_under_shim
from tests.conftest import ROOT

ENV = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
CORE64 = "elfcore/core_linux64.elf"
ENOENT = os.strerror(2)  # No such file or directory
ENOTDIR = os.strerror(20)  # Not a directory


def memlens(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memlens", *argv], capture_output=True,
                          text=True, env=ENV, check=False, timeout=120)  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr.rstrip("\n")


@pytest.fixture(scope="module")
def mlheap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real heap snapshot: /bin/true run under the shim."""
    out = tmp_path_factory.mktemp("run")
    result = run_under_shim(["/bin/true"], RunOptions(out_dir=str(out)))
    return Path(result.snapshots[-1].path)


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A regular file: a path through it is 'not a directory'."""
    f = tmp_path / "file.txt"
    f.write_text("x")
    return f


@pytest.mark.parametrize("flag", ["-o", "--save"])
def test_heap_output_into_a_missing_folder(mlheap: Path, tmp_path: Path, flag: str) -> None:
    target = tmp_path / "no such folder" / "out"
    done = memlens("heap", str(mlheap), flag, str(target))
    assert done.returncode == 1 and done.stdout == ""
    assert one_line(done) == f"memlens: error: cannot write {target}: {ENOENT}"


def test_heap_html_through_a_file(mlheap: Path, a_file: Path) -> None:
    target = a_file / "heap.html"
    done = memlens("heap", str(mlheap), "--as", "html", "-o", str(target))
    assert done.returncode == 1
    assert one_line(done) == f"memlens: error: cannot write {target}: {ENOTDIR}"


def test_run_out_through_a_file(a_file: Path) -> None:
    target = a_file / "run"
    done = memlens("run", "--out", str(target), "--", "/bin/true")
    assert done.returncode == 1 and done.stdout == ""
    assert one_line(done) == f"memlens: error: cannot create folder {target}: {ENOTDIR}"


def test_run_html_into_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "heap.html"
    done = memlens("run", "--out", str(tmp_path / "out"), "--html", str(target), "--", "/bin/true")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"memlens: error: cannot write {target}: {ENOENT}"
    assert "Traceback" not in done.stderr


def test_snapshot_into_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "core"
    with subprocess.Popen(["sleep", "60"]) as sleeper:
        try:
            done = memlens("snapshot", str(sleeper.pid), "-o", str(target))
        finally:
            sleeper.kill()
    assert done.returncode == 1
    assert one_line(done).startswith(f"memlens: error: {target}")
    assert one_line(done).endswith(ENOENT)


def test_debug_shows_the_traceback(fixtures_dir: Path) -> None:
    quiet = memlens("read", str(fixtures_dir / CORE64), "0x10", "4")
    loud = memlens("--debug", "read", str(fixtures_dir / CORE64), "0x10", "4")
    assert quiet.returncode == loud.returncode == 1
    assert one_line(quiet) == "memlens: error: address 0x10 (4 bytes): unmapped"
    assert loud.stderr.startswith("Traceback (most recent call last):")
    assert loud.stderr.splitlines()[-1] == "memlens: error: address 0x10 (4 bytes): unmapped"


def test_a_missing_target_file_is_one_line(tmp_path: Path) -> None:
    done = memlens("info", str(tmp_path / "nothing.core"))
    assert done.returncode != 0 and done.stdout == ""
    assert str(tmp_path / "nothing.core") in one_line(done)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["read", "CORE", "0x400000", "0"], "memlens: error: LEN must be between 1 and 67108864"),
     (["find", "CORE", "x", "--max", "-1"], "memlens: error: --align and --max must be positive"),
     (["read", "CORE", "zz"], "memlens read: error: argument ADDR: not an address: 'zz'")],
)  # fmt: skip
def test_bad_values_are_one_line(fixtures_dir: Path, argv: list[str], message: str) -> None:
    done = memlens(*[str(fixtures_dir / CORE64) if a == "CORE" else a for a in argv])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == message and "Traceback" not in done.stderr


def test_helpers_name_the_path_and_the_reason(tmp_path: Path, a_file: Path) -> None:
    cases: list[tuple[Path, str]] = [(tmp_path / "a" / "b", ENOENT), (a_file / "b", ENOTDIR),
                                     (tmp_path, os.strerror(21))]  # fmt: skip
    for path, reason in cases:
        for opener in (output_text, output_bytes):
            with pytest.raises(OutputError) as e, opener(str(path)) as f:
                f.write("never" if opener is output_text else b"never")  # type: ignore[arg-type]
            assert str(e.value) == f"cannot write {path}: {reason}"
    with pytest.raises(OutputError) as e:
        make_output_dir(str(a_file / "d"))
    assert str(e.value) == f"cannot create folder {a_file / 'd'}: {ENOTDIR}"


def test_a_full_disk_is_one_line(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(OutputError) as e, output_bytes("/dev/full") as f:
        f.write(b"x" * 100_000)
    assert str(e.value) == f"cannot write /dev/full: {os.strerror(28)}"

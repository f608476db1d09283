"""Leak classes equal valgrind memcheck's summary, on programs with known leaks.

Each program runs twice, both times stopping at the same point: under
valgrind (``VALGRIND_DO_LEAK_CHECK`` prints the summary there) and natively,
where gdb writes a core (and the live process is read too).  Blocks are sized
16k + 8 bytes so glibc's usable size equals the requested size valgrind counts;
where a library's block is not (libstdc++'s emergency pool), memlens's bytes
may exceed valgrind's by less than the 16-byte alignment per block.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.glibc.leakreport import leak_report
from memlens.targets import open_target
from tests.glibc import memcheck
from tests.glibc.programs import build, gcore, running

CLASSES = memcheck.CLASSES


def valgrind_summary(exe: Path) -> dict[str, tuple[int, int]]:
    """(blocks, bytes) per class from the first LEAK SUMMARY valgrind prints."""
    return memcheck.summary(memcheck.run_memcheck([exe]))


@pytest.fixture(scope="module")
def progs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("glibc-leaks")


def _ours(target: str) -> dict[str, tuple[int, int]]:
    with open_target(target) as snap:
        return leak_report(snap).summary


@pytest.mark.parametrize(("name", "cxx"), [("leaks", False), ("objects", True), ("threads", False)],
                         ids=["c-list-middle-cycle", "cxx-objects", "threads-tls-stacks"])
def test_core_equals_valgrind(progs: Path, tmp_path: Path, name: str, cxx: bool) -> None:
    exe = build(name, progs, cxx=cxx)
    expected = valgrind_summary(exe)
    with running(exe) as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
        live = _ours(str(proc.pid))
    ours = _ours(str(core))
    assert live == ours
    for kind in CLASSES:
        blocks, size = ours[kind]
        assert blocks == expected[kind][0], kind
        assert 0 <= size - expected[kind][1] < 16 * max(blocks, 1), kind
    # the designed leaks, exactly
    if name == "threads":  # 4 lost lists; blocks kept only in TLS and on thread stacks
        assert ours["definitely lost"] == (4, 96) and ours["indirectly lost"] == (396, 9504)
        assert ours["still reachable"] == (8, 256)
    elif cxx:
        assert ours["definitely lost"] == (1, 24) and ours["indirectly lost"] == (14, 336)
    else:
        assert ours["definitely lost"] == (2, 64) and ours["indirectly lost"] == (1002, 24080)
        assert ours["possibly lost"] == (1, 56) and ours["still reachable"] == (10, 240)


def test_cli_text_and_json(progs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = build("objects", progs, cxx=True)
    with running(exe) as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
    assert main(["leaks", str(core)]) == 0
    text = capsys.readouterr().out
    assert "definitely lost: 24 bytes in 1 blocks" in text
    rows = re.findall(r"^  (\w+ lost) +(\d+) .* vtable for (\w+)", text, re.M)
    assert sorted((kind, int(n), cls) for kind, n, cls in rows) == [
        ("definitely lost", 1, "Branch"), ("indirectly lost", 6, "Branch"),
        ("indirectly lost", 8, "Leaf")]  # fmt: skip
    assert main(["leaks", str(core), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "leaks" and doc["schema_version"] == 1
    assert doc["summary"]["indirectly lost"] == {"blocks": 14, "bytes": 336}
    assert {(g["kind"], g["class"], g["blocks"]) for g in doc["groups"]} == {
        ("definitely lost", "Branch", 1), ("indirectly lost", "Branch", 6),
        ("indirectly lost", "Leaf", 8)}  # fmt: skip


def test_cli_show_reachable(progs: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    exe = build("leaks", progs)
    with running(exe) as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
    assert main(["leaks", str(core), "--show-reachable"]) == 0
    rows = re.findall(r"^  (still reachable|possibly lost) +(\d+) +([\d,]+) +(\d+)  (\S.*?)  \(",
                      capsys.readouterr().out, re.M)  # fmt: skip
    # the ten calloc'd 24-byte blocks kept in a global, and the 56-byte block known by its middle
    assert ("still reachable", "10", "240", "24", "[0, 0]") in rows
    assert ("possibly lost", "1", "56", "56", "[0, 0]") in rows


def test_cli_on_a_corrupted_heap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = build("corrupt", tmp_path)
    with running(exe, "overflow") as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
    assert main(["leaks", str(core)]) == 3
    captured = capsys.readouterr()
    assert "heap check failed: chunk size" in captured.out
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_cli_without_glibc_heap(tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    raw = tmp_path / "raw.bin"
    raw.write_bytes(bytes(8192))
    assert main(["leaks", str(raw), "--format", "raw", "--base", "0x10000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("memlens: error: no glibc malloc arena found") and err.count("\n") == 1


def test_i386_core_classes(progs: Path, tmp_path: Path) -> None:
    """valgrind's x86 memcheck refuses to start without i386 libc debug info (not for
    lib32 libc here): the designed block counts are the oracle."""
    try:
        exe = build("leaks", progs, "-m32")
    except subprocess.CalledProcessError:
        pytest.skip("no 32-bit toolchain (gcc-multilib)")
    with running(exe) as (proc, _):
        core = gcore(proc.pid, tmp_path / "core")
        live = _ours(str(proc.pid))
    ours = _ours(str(core))
    assert live == ours
    assert [ours[k][0] for k in CLASSES] == [2, 1002, 1, 10]
    # i386 usable sizes: the 12-byte nodes and 20-byte cycle blocks fill 16- and
    # 32-byte chunks (12 and 28 usable), the 56-byte block a 64-byte one (60)
    assert ours["possibly lost"] == (1, 60)

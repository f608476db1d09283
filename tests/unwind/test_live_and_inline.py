"""`memlens stack` of a live process (names as eu-stack's, the process left running) and
Breakpad INLINE records (linux_inline.dmp with its .sym)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from memlens.cli.main import main

from ..conftest import compile_c, need_tool

PROG = r"""
#include <unistd.h>
__attribute__((noinline)) static void waiting(void) { for (;;) pause(); }
__attribute__((noinline)) static void caller_two(void) { waiting(); __asm__ volatile(""); }
__attribute__((noinline)) static void caller_one(void) { caller_two(); __asm__ volatile(""); }
int main(void) { caller_one(); return 0; }
"""


def _in_pause(pid: int) -> bool:
    """The process sits in pause() (x86_64 syscall 34), not still starting up."""
    try:
        return Path(f"/proc/{pid}/syscall").read_text().split()[0] == "34"
    except (OSError, IndexError):
        return False


def _wait_for(ready: Callable[[], bool], seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not ready() and time.monotonic() < end:
        time.sleep(0.02)


def _state(pid: int) -> str:
    """The process's state once it is off the CPU: a resumed process runs ('R') until
    it is back in pause(), which on a loaded machine can take a while; a stopped one
    ('T', 't') never becomes 'S'."""
    deadline = time.monotonic() + 10
    while True:
        text = Path(f"/proc/{pid}/stat").read_text()
        state = text[text.rindex(")") + 2]
        if state != "R" or time.monotonic() > deadline:
            return state
        time.sleep(0.01)


Procs = list[subprocess.Popen[bytes]]


Capture = pytest.CaptureFixture[str]


def test_live_process_names_and_left_running(tmp_path: Path, spawn: Procs,
                                             capsys: Capture) -> None:
    tool = need_tool("eu-stack")
    exe = compile_c(PROG, tmp_path / "waiter", "-O2")
    proc = subprocess.Popen([str(exe)])
    spawn.append(proc)
    _wait_for(lambda: _in_pause(proc.pid))
    assert main(["stack", str(proc.pid), "--json", "--no-scan"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # never left stopped: ptrace detached, the thread sleeps in pause() again
    _wait_for(lambda: _state(proc.pid) == "S")
    assert _state(proc.pid) == "S" and proc.poll() is None
    (thread,) = doc["threads"]
    names = [f["function"] for f in thread["frames"]]
    oracle = subprocess.run([tool, "-p", str(proc.pid)], capture_output=True, text=True).stdout
    expected = re.findall(r"^#\d+\s+0x([0-9a-f]+)\s+(\S+)", oracle, re.M)
    assert _state(proc.pid) == "S"
    # the same frames (pcs) up to main; libc's pause() is named by its DWARF name here
    # (__libc_pause) and by its .dynsym alias (pause) by eu-stack, so compare pcs
    upto = [n for _, n in expected].index("main") + 1
    assert [f["pc"] for f in thread["frames"][:upto]] == [int(a, 16) for a, _ in expected[:upto]]
    assert names[1:upto] == [n for _, n in expected[1:upto]]
    ours = ("waiting", "caller_two", "caller_one", "main")
    assert [n for n in names if n in ours] == list(ours)


def test_breakpad_inline_frames(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """INLINE records of linux_inline.new.sym: main inlines foo(), foo bar(), bar func();
    the innermost has the line record's line, each caller the call site's."""
    md = fixtures_dir / "minidump"
    assert main(["stack", str(md / "linux_inline.dmp"), "--symbols", str(md / "symbols"),
                 "--json", "--crashed"]) == 0  # fmt: skip
    (thread,) = json.loads(capsys.readouterr().out)["threads"]
    top = [(f["function"], f["file"], f["line"], f["trust"]) for f in thread["frames"][:4]]
    assert top == [("func()", "linux_inline.cpp", 27, "inline"), ("bar()", "c.cpp", 32, "inline"),
                   ("foo()", "b.cpp", 39, "inline"), ("main", "a.cpp", 42, "context")]
    assert {f["pc"] for f in thread["frames"][:4]} == {0x2161B6}

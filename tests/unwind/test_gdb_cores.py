"""Backtraces of cores this test makes equal gdb's `thread apply all bt` (function names).

A program with 8 threads (7 waiting in pause() two calls deep, the main thread crashing
inside a shared library) is built with frame pointers at -O0 and without them at -O2;
gdb runs it to the SIGSEGV, writes the core (gcore) and prints every thread's backtrace,
which is the oracle.  Names are compared after removing what only spells the same
function differently: GCC clone suffixes (``.constprop.0``, ``.isra.0``, memlens's
``[constprop]``: gdb prints the DWARF name), aliases at one address, and leading
underscores of assembly aliases (``__clone3`` / ``clone3``).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from memlens.cli.main import main

from ..conftest import compile_c, need_tool

LIB = r"""
#include <stddef.h>
volatile int *crash_target = NULL;
__attribute__((noinline)) int lib_deep(int x) { *crash_target = x; return x + 1; }
__attribute__((noinline)) int lib_entry(int x) { return lib_deep(x * 2) + 1; }
"""
PROG = r"""
#include <pthread.h>
#include <unistd.h>
int lib_entry(int);
static pthread_barrier_t ready;
__attribute__((noinline)) static void idle_leaf(int n) { for (;;) pause(); }
__attribute__((noinline)) static void idle_mid(int n) { idle_leaf(n + 1); __asm__ volatile(""); }
static void *worker(void *arg) { pthread_barrier_wait(&ready); idle_mid((int)(long)arg); return 0; }
__attribute__((noinline)) static int crash_here(int v) { return lib_entry(v) + 3; }
int main(void) {
  pthread_t t[7];
  pthread_barrier_init(&ready, 0, 8);
  for (long i = 0; i < 7; i++) pthread_create(&t[i], 0, worker, (void *)i);
  pthread_barrier_wait(&ready);
  usleep(100000);
  return crash_here(5);
}
"""
Capture = pytest.CaptureFixture[str]
_THREAD = re.compile(r"^Thread \d+ \(.*LWP (\d+)\)")
_FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(")


def _norm(name: str | None) -> str | None:
    if name is None:
        return None
    # GCC clones as the ELF symbol spells them (.constprop.0) or memlens marks them ([constprop])
    clone = r"\.(constprop|isra|part|cold)\.\d+$|\.cold$| \[(constprop|isra|part|cold)\]$"
    return re.sub(clone, "", name).lstrip("_")


def _symbols_at(module: str) -> dict[str, set[int]]:
    """Every defined symbol of ``module`` and of its separate debug file (found by build
    id, as gdb finds it) with its addresses, from nm: aliases share an address."""
    out: dict[str, set[int]] = {}
    files = [module]
    note = subprocess.run(["readelf", "-n", module], capture_output=True, text=True).stdout
    if m := re.search(r"Build ID: ([0-9a-f]{2})([0-9a-f]+)", note):
        debug = Path(f"/usr/lib/debug/.build-id/{m.group(1)}/{m.group(2)}.debug")
        files += [str(debug)] if debug.exists() else []
    for path in files:
        text = subprocess.run(["nm", "--defined-only", path], capture_output=True,
                              text=True).stdout  # fmt: skip
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3:
                out.setdefault(parts[2].split("@")[0], set()).add(int(parts[0], 16))
    return out


def _same_function(ours: str | None, gdbs: str, module: str | None) -> bool:
    """Equal names, or two names of one function: aliases at one address (gdb prints
    the DWARF name, ``__libc_pause``; memlens the public alias, ``pause``)."""
    if _norm(ours) == _norm(gdbs):
        return True
    if ours is None or module is None:
        return False
    table = _symbols_at(module)
    return bool(table.get(ours, set()) & table.get(gdbs, set()))


def _gdb_threads(text: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if m := _THREAD.match(line):
            current = out.setdefault(int(m.group(1)), [])
        elif m := _FRAME.match(line):
            current.append(m.group(1))
    return out


@pytest.mark.parametrize("flags", [("-O0", "-fno-omit-frame-pointer"),
                                   ("-O2", "-fomit-frame-pointer")], ids=["fp-O0", "nofp-O2"])
def test_names_equal_gdb(flags: tuple[str, ...], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    gdb = need_tool("gdb")
    lib = compile_c(LIB, tmp_path / "libcrash.so", *flags, "-shared", "-fPIC")
    prog = compile_c(PROG, tmp_path / "prog", *flags, f"-L{tmp_path}", "-lcrash",
                     f"-Wl,-rpath,{tmp_path}", "-pthread")  # fmt: skip
    assert lib.exists()
    core = tmp_path / "core"
    run = subprocess.run([gdb, "-nx", "-batch", "-ex", "run", "-ex",
                          f"generate-core-file {core}", "-ex", "thread apply all bt", str(prog)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    expected = _gdb_threads(run.stdout)
    assert len(expected) == 8 and core.exists(), run.stdout[-2000:]
    assert main(["stack", str(core), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    got: dict[int, list[tuple[str | None, str | None]]] = {}
    for t in doc["threads"]:
        frames = [(f["function"], f["module"]) for f in t["frames"]]
        names = [n for n, _ in frames]
        # gdb's bt ends at main (backtrace past-main off)
        got[t["tid"]] = frames[: names.index("main") + 1] if "main" in names else frames
    assert sorted(got) == sorted(expected)
    # the JSON names modules by file name: the loader's list says which file that is
    ldd = subprocess.run(["ldd", str(prog)], capture_output=True, text=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
    for tid, names in expected.items():
        ours = got[tid]
        assert len(ours) == len(names), (tid, ours, names)
        for (name, module), theirs in zip(ours, names, strict=True):
            path = paths.get(module) if module else None
            assert _same_function(name, theirs, path), (tid, name, theirs)
    crashed = next(t for t in doc["threads"] if t["crashed"])
    assert [f["function"] for f in crashed["frames"][:2]] == ["lib_deep", "lib_entry"]
    assert doc["crash"]["reason"] == "SIGSEGV (SEGV_MAPERR)" and doc["crash"]["address"] == 0


SIGNAL = r"""
#include <signal.h>
volatile int *bad = 0;
__attribute__((noinline)) static void in_handler(int s) { *bad = s; }
static void handler(int s) { in_handler(s); }
__attribute__((noinline)) static void busy(void) { raise(SIGUSR1); __asm__ volatile(""); }
int main(void) { signal(SIGUSR1, handler); busy(); return 0; }
"""
CXX = r"""
#include <stdexcept>
__attribute__((noinline)) void thrower(int x) { if (x) throw std::runtime_error("boom"); }
__attribute__((noinline)) void middle(int x) noexcept { thrower(x); }
int main(int argc, char**) { middle(argc); return 0; }
"""
#: the test programs' own functions, and gdb's line for a signal trampoline
OWN = {"in_handler", "handler", "busy", "main", "thrower", "middle"}
_GDB_SIGNAL = "<signal"


def _gdb_frames(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if line.startswith("#") and "<signal handler called>" in line:
            out.append(_GDB_SIGNAL)
        elif m := _FRAME.match(line):
            out.append(m.group(1))
    return out


@pytest.mark.parametrize("case", ["signal-handler", "c++-abort"])
def test_signal_handler_and_cxx_abort_as_gdb(case: str, tmp_path: Path,
                                             capsys: Capture) -> None:
    """A crash inside a signal handler (the trampoline frame, then the interrupted code)
    and an uncaught C++ exception (abort from std::terminate through the unwinder).  The
    program's own frames and the signal frame are compared in order with gdb's; the
    libc / libstdc++ frames between them are not (gdb shows inline frames of libc's
    debug info that the symbolizer does not give), only that __cxa_throw and abort are
    there."""
    gdb = need_tool("gdb")
    if case == "signal-handler":
        prog = compile_c(SIGNAL, tmp_path / "sig", "-O2")
    else:
        need_tool("g++")
        src = tmp_path / "cxx.cc"
        src.write_text(CXX)
        prog = tmp_path / "cxx"
        subprocess.run(["g++", "-g", "-O2", "-o", str(prog), str(src)], check=True)
    core = tmp_path / "core"
    run = subprocess.run([gdb, "-nx", "-batch", "-ex", "handle SIGUSR1 nostop noprint pass",
                          "-ex", "run", "-ex", f"generate-core-file {core}", "-ex", "bt",
                          str(prog)], capture_output=True, text=True, timeout=120)  # fmt: skip
    expected = _gdb_frames(run.stdout)
    assert core.exists() and "main" in expected, run.stdout[-2000:]
    assert main(["stack", str(core), "--json", "--crashed"]) == 0
    (thread,) = json.loads(capsys.readouterr().out)["threads"]
    ours = [_GDB_SIGNAL if f["signal_frame"] else re.sub(r"\(.*$", "", f["function"] or "??")
            .strip() for f in thread["frames"]]  # fmt: skip
    ours = ours[: ours.index("main") + 1]

    def own(names: list[str]) -> list[str]:
        return [n for n in names if _norm(n) in OWN or n == _GDB_SIGNAL]

    assert own(ours) == own(expected)
    if case == "signal-handler":
        assert own(ours) == ["in_handler", _GDB_SIGNAL, "busy", "main"]
    else:
        assert own(ours) == ["thrower", "middle", "main"]
        assert "__cxa_throw" in ours and any("abort" in n for n in ours)

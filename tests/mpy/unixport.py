"""Run MicroPython's unix port (tests/data/mpy-unix) on a workload and hold it.

The workload ends with ``micropython.mem_info(1)`` then sleeps (reading stdin
would allocate a line buffer), so a test can dump the process while the heap
is exactly what was printed; the test then kills the interpreter it started.
"""

from __future__ import annotations

import lzma
import resource
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "mpy-unix"
BUILDS = ("x86_64-pie", "x86_64-stripped", "i386")
END = "--memlens-dumped--"

# What the workloads make, so the objects by type can be checked.
WORKLOADS: dict[str, str] = {
    "mixed": """
class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y
points = [Point(i, i + 1) for i in range(40)]
table = {"key%d" % i: i * 0.5 for i in range(60)}
names = ["name-%d" % i for i in range(150)]
blobs = [bytes(range(i % 50 + 1)) for i in range(30)]
floats = [i / 3 for i in range(30)]
def make(n):
    def f():
        return n
    return f
closures = [make(i) for i in range(20)]
numbers = tuple(range(25))
buf = bytearray(500)
""",
    "fragmented": """
keep = []
for i in range(150):
    s = bytearray(16 + (i * 37) % 200)
    if i % 3 == 0:
        keep.append(s)
d = {}
for i in range(200):
    d[i] = "v%d" % i
    if i % 2:
        del d[i]
""",
    "fill": """
import sys
class Node:
    def __init__(self, i):
        self.i = i
        self.name = "node-%d" % i
def n(base):  # more than half the heap, whatever its size and word size
    return base * HEAP * 4 // ((8 if sys.maxsize > 2 ** 32 else 4) * 1000000)
nodes = [Node(i) for i in range(n(1500))]
strs = ["s%d" % i * 4 for i in range(n(4000))]
maps = [{"a": i, "b": str(i)} for i in range(n(1000))]
bufs = [bytearray(i % 200) for i in range(n(700))]
flts = [i * 0.25 for i in range(n(1500))]
""",
    "garbage": """
import gc
gc.disable()
for i in range(300):
    x = [i, str(i), i * 1.5]
y = {"a": [1, 2, 3]}
""",
}


@dataclass(frozen=True)
class Interpreter:
    build: str
    binary: Path
    map: Path | None
    word_size: int


def unpack(tmp: Path) -> dict[str, Interpreter]:
    """Every build, decompressed into ``tmp``."""
    out: dict[str, Interpreter] = {}
    for build in BUILDS:
        binary = tmp / f"micropython-{build}"
        binary.write_bytes(lzma.decompress((DATA / f"micropython-{build}.xz").read_bytes()))
        binary.chmod(0o755)
        mp = DATA / f"micropython-{build}.map.xz"
        map_path = None
        if mp.exists():
            map_path = tmp / f"micropython-{build}.map"
            map_path.write_bytes(lzma.decompress(mp.read_bytes()))
        out[build] = Interpreter(build, binary, map_path, 4 if build == "i386" else 8)
    return out


@dataclass(frozen=True)
class Running:
    pid: int
    meminfo: str  # what mem_info(1) printed, "\n" line ends
    proc: subprocess.Popen[bytes]
    cwd: Path

    def kernel_core(self) -> Path:
        """End the interpreter with SIGQUIT and return the core the kernel wrote.

        Skips when the kernel's core_pattern sends cores elsewhere.
        """
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        if pattern.startswith("|") or "/" in pattern:
            pytest.skip(f"core_pattern {pattern!r} sends cores elsewhere")
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=60)
        cores = [p for p in self.cwd.iterdir() if p.name == "core" or p.name.startswith("core.")]
        if not cores:
            pytest.skip(f"the kernel wrote no core (core_pattern {pattern!r})")
        return cores[0]


@contextmanager
def running(interp: Interpreter, workload: str, heapsize: int, tmp: Path) -> Iterator[Running]:
    """Start ``interp`` on ``workload``; yield while it blocks after mem_info(1)."""
    if interp.word_size == 4 and not Path("/lib/ld-linux.so.2").exists():
        pytest.skip("libc6-i386 is not installed (scripts/system-packages.txt)")
    script = tmp / f"{workload}-{heapsize}.py"
    script.write_text(
        f"import micropython, time\nHEAP = {heapsize}\n" + WORKLOADS[workload]
        + f"\nmicropython.mem_info(1)\nprint({END!r})\ntime.sleep(600)\n"
    )  # fmt: skip
    cwd = tmp / f"run-{workload}-{heapsize}"
    cwd.mkdir(exist_ok=True)

    def allow_cores() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    proc = subprocess.Popen(
        [str(interp.binary), "-X", f"heapsize={heapsize}", str(script)], cwd=cwd,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=allow_cores,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for raw in proc.stdout:
            line = raw.decode().rstrip("\r\n")
            if line == END:
                break
            lines.append(line)
        else:
            err = proc.stderr.read().decode() if proc.stderr else ""
            said = "\n".join(lines[-5:])
            pytest.fail(f"{interp.build} ended before mem_info: {said} {err[-500:]}")
        yield Running(proc.pid, "\n".join(lines) + "\n", proc, cwd)
    finally:
        proc.kill()
        proc.wait()

"""Issue 13 stack-walking benchmark, side by side with eu-stack on the same core.

A 64-thread program (63 threads in pause() 1-8 recursive calls deep, the main thread
raising SIGSEGV), built with -O2 and no frame pointers, is run under gdb, which writes
its core with gcore.  Then, on that core:

* memlens in process: open, then ``stack_report`` (walk + symbolize every thread) the
  first time (symbol and CFI loading included) and again (after symbol load);
* ``memlens stack --bt`` as a command (interpreter start-up included);
* ``eu-stack --core --executable`` as a command.

Usage: .venv/bin/python benchmarks/bench_stack.py [repeat]   (default 5)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import memlens  # noqa: E402
from memlens.analyses.stack import stack_report  # noqa: E402

PROGRAM = r"""
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
static pthread_barrier_t ready;
__attribute__((noinline)) static void leaf(int n) { for (;;) pause(); }
__attribute__((noinline)) static void mid(int n) { if (n > 0) mid(n - 1); else leaf(n);
                                                   __asm__ volatile(""); }
static void *worker(void *arg) { pthread_barrier_wait(&ready); mid((int)(long)arg % 8); return 0; }
int main(void) {
  pthread_t t[63];
  pthread_barrier_init(&ready, 0, 64);
  for (long i = 0; i < 63; i++) pthread_create(&t[i], 0, worker, (void *)i);
  pthread_barrier_wait(&ready);
  usleep(200000);
  raise(SIGSEGV);
  return 0;
}
"""


def median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    work = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    try:
        src = work / "t64.c"
        src.write_text(PROGRAM)
        exe = work / "t64"
        subprocess.run(["gcc", "-g", "-O2", "-fomit-frame-pointer", "-o", str(exe), str(src),
                        "-pthread"], check=True)  # fmt: skip
        core = work / "core"
        subprocess.run(["gdb", "-nx", "-batch", "-ex", "run", "-ex", f"generate-core-file {core}",
                        str(exe)], check=True, capture_output=True)  # fmt: skip
        snap = memlens.open(str(core))
        t0 = time.perf_counter()
        report = stack_report(snap)
        first = time.perf_counter() - t0
        frames = sum(len(t.frames) for t in report.threads)
        again = median(lambda: stack_report(snap), repeat)
        cli = median(lambda: subprocess.run([str(ROOT / ".venv/bin/memlens"), "stack",
                                             str(core), "--bt"], check=True,
                                            capture_output=True), repeat)  # fmt: skip
        eu = median(lambda: subprocess.run(["eu-stack", f"--core={core}",
                                            f"--executable={exe}"], capture_output=True),
                    repeat)  # fmt: skip
        print(f"core: {len(report.threads)} threads, {frames} frames, "
              f"{core.stat().st_size >> 20} MiB; cpus {os.cpu_count()}")
        print(f"memlens stack_report, first (symbols + CFI load): {first * 1000:7.1f} ms")
        print(f"memlens stack_report, again (median of {repeat}):  {again * 1000:7.1f} ms")
        print(f"memlens stack --bt (command, median):           {cli * 1000:7.1f} ms")
        print(f"eu-stack --core (command, median):              {eu * 1000:7.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

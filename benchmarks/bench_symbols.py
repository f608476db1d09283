"""Symbolization and residency speed, memlens vs the reference tools, side by side in one run.

    .venv/bin/python benchmarks/bench_symbols.py [LIBRARY] [RUNS] [--cli-only] [--before DIR]

1. load LIBRARY's symbol table (``Symbolizer`` ready to answer), cold process cache;
2. 100k random ``.text`` addresses -> symbol+offset through the public calls:
   ``Symbolizer.resolve`` (columns, the batch path) and ``Symbolizer.symbolize``
   (100k ``Frame`` objects);
3. 10k addresses -> file:line + inline frames, memlens vs ``llvm-symbolizer``;
4. ``memlens resident --summary`` of a live process with 50 shared libraries
   (a C program the script builds, dlopening 50 libraries it builds), vs ``pmap -X``;
5. whole processes, side by side, alternating: ``memlens symbolize LIB -`` (text and
   ``--json``) vs ``llvm-symbolizer --obj=LIB --inlining`` on 100k random ``.text``
   addresses from stdin, and on one address (warm: SymCache on disk, files in the
   page cache); median and min-max wall time of N runs (``--cli-only``: only this).
   ``--before DIR`` also runs both memlens commands from another checkout's ``src``
   (``git archive main src | tar -x -C DIR``, plus the built ``src/memlens/*.so``
   copied beside it) in the same rounds, both trees then
   through ``python -c`` so they start alike.

memlens's bytecode is compiled first, as an installed package's is (this sandbox
sets PYTHONDONTWRITEBYTECODE, which would otherwise recompile it on every run).
"""

from __future__ import annotations

import compileall
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

from memlens.symbols.chain import symbolizer_for_file
from memlens.symbols.elffile import ElfFile

_BEFORE = (Path(sys.argv[sys.argv.index("--before") + 1]) if "--before" in sys.argv[:-1]
           else None)  # fmt: skip
_ARGS = [a for a in sys.argv[1:] if not a.startswith("--") and not a.isdigit()
         and (_BEFORE is None or a != str(_BEFORE))]  # fmt: skip
LIB = _ARGS[0] if _ARGS else os.path.join(sysconfig.get_config_var("LIBDIR") or "",
                                          sysconfig.get_config_var("INSTSONAME") or "")
ROOT = Path(__file__).resolve().parent.parent
MEMLENS = str(ROOT / ".venv" / "bin" / "memlens")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
#: the command line run by ``python -c`` (for --before: the same start for both trees)
ENTRY = """
import re, sys
from memlens.cli.main import entry
sys.argv = ["memlens", *sys.argv[1:]]
entry()
"""


def best(f: object, runs: int = 5) -> float:
    """Median of ``runs`` wall times of ``f()`` in seconds."""
    return statistics.median(timed(f, runs)[0])


def timed(f: object, runs: int = 5) -> tuple[list[float], list[float]]:
    """Wall times and CPU times of this process over ``runs`` calls of ``f()``.

    The CPU time says what the work costs when the machine is shared (other
    processes stretch the wall time, not the CPU time)."""
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        f()  # type: ignore[operator]
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def ms(t: tuple[list[float], list[float]]) -> str:
    """``median (min-max) / CPU median`` in milliseconds."""
    w, c = t
    return (f"{statistics.median(w) * 1e3:.1f} ({min(w) * 1e3:.1f}-{max(w) * 1e3:.1f}) / "
            f"{statistics.median(c) * 1e3:.1f} ms")


def child_timed(cmd: list[str], runs: int = 3) -> tuple[float, float]:
    """Median wall time and CPU time (user + system) of a command, over ``runs`` runs."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        wall.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(wall), statistics.median(cpu)


def symbols() -> None:
    with ElfFile(LIB) as elf:
        text = elf.section(".text")
    assert text is not None
    load = timed(lambda: symbolizer_for_file(LIB, chain=["symtab"]).resolve(
        [text.addr]))  # fmt: skip
    rng = np.random.default_rng(1)
    addrs = rng.integers(text.addr, text.addr + text.size, 100_000, dtype=np.uint64)
    as_list = addrs.tolist()
    sym = symbolizer_for_file(LIB, chain=["symtab"])
    sym.resolve(addrs[:10])
    batch = sym.resolve(addrs)
    named = sum(f is not None for f in batch.function.tolist()) / len(batch.unique)
    t_resolve = timed(lambda: sym.resolve(as_list))
    t_frames = timed(lambda: sym.symbolize(as_list))
    repeated = as_list[:10_000] * 10  # stacks of a profiler: few distinct addresses
    t_repeated = timed(lambda: sym.symbolize(repeated))
    ntab = len(sym.module_symbols(0).symtab() or [])
    print(f"{LIB}: {ntab} symbols (wall median (min-max) / CPU median, 5 runs)")
    print(f"  load (symbolizer ready): {ms(load)}")
    print(f"  100k addresses -> symbol+offset, resolve() (columns): {ms(t_resolve)} "
          f"({named:.1%} named, {len(batch.unique)} distinct)")
    print(f"  100k addresses -> symbol+offset, symbolize() (100k Frames): {ms(t_frames)}")
    print(f"  same, 100k addresses of which 10k distinct, symbolize(): {ms(t_repeated)}")
    tenk = as_list[:10_000]
    full = symbolizer_for_file(LIB)
    full.symbolize(tenk[:10])  # builds / opens the SymCache
    ours = best(lambda: symbolizer_for_file(LIB).symbolize(tenk), 3)
    frames = full.symbolize(tenk)
    llvm = best(lambda: subprocess.run(
        ["llvm-symbolizer", f"--obj={LIB}", "--inlining"], input="\n".join(map(hex, tenk)),
        capture_output=True, text=True, check=True), 3)  # fmt: skip
    print(f"  10k file:line+inline (median of 3): memlens {ours:.2f} s, "
          f"llvm-symbolizer {llvm:.2f} s, "
          f"ratio {ours / llvm:.2f} ({sum(f.line is not None for f in frames)} with lines)")


HOST = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!dlopen(argv[i], RTLD_NOW)) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    printf("ready\n"); fflush(stdout);
    getchar();
    return 0;
}
"""


def library_source(i: int, functions: int = 200) -> str:
    body = [f"int lib{i}_f{j}(int x) {{ return x * {j + 3} + {i}; }}" for j in range(functions)]
    body.append(f"int lib{i}_data[4096] = {{ {i} }};")
    return "\n".join(body) + "\n"


def resident(tmp: Path) -> None:
    (tmp / "host.c").write_text(HOST)
    subprocess.run(["gcc", "-O1", "-o", str(tmp / "host"), str(tmp / "host.c"), "-ldl"],
                   check=True)  # fmt: skip
    libs = []
    for i in range(50):
        src = tmp / f"lib{i}.c"
        src.write_text(library_source(i))
        libs.append(str(tmp / f"libbench{i}.so"))
        subprocess.run(["gcc", "-O1", "-g", "-shared", "-fPIC", "-o", libs[-1], str(src)],
                       check=True)  # fmt: skip
    proc = subprocess.Popen([str(tmp / "host"), *libs], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        maps = Path(f"/proc/{proc.pid}/maps").read_text().splitlines()
        nlibs = sum(1 for line in maps if ".so" in line)
        cmd = [MEMLENS, "resident", str(proc.pid), "--summary"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        ours, ours_cpu = child_timed(cmd)
        pmap, pmap_cpu = child_timed(["pmap", "-X", str(proc.pid)])
        rows = sum(1 for line in out.splitlines() if ".so" in line)
        print(f"resident --summary, live process with {nlibs} library mappings "
              f"({rows} library rows), whole CLI run (wall / CPU, median of 3): "
              f"memlens {ours:.2f} / {ours_cpu:.2f} s, pmap -X {pmap:.3f} / {pmap_cpu:.3f} s")
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait()


def wall(cmd: list[str], stdin: bytes, env: dict[str, str] | None = None,
         ) -> tuple[float, float]:  # fmt: skip
    """Wall time and CPU time (user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, check=True, env=env)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cli(runs: int) -> None:
    with ElfFile(LIB) as elf:
        text = elf.section(".text")
    assert text is not None
    rng = np.random.default_rng(1)
    many = "\n".join(map(hex, rng.integers(text.addr, text.addr + text.size, 100_000,
                                            dtype=np.uint64).tolist())).encode() + b"\n"
    one = hex(text.addr + text.size // 2).encode() + b"\n"
    tools = {
        "memlens text": [MEMLENS, "symbolize", LIB, "-"],
        "memlens --json": [MEMLENS, "symbolize", "--json", LIB, "-"],
        "llvm-symbolizer": ["llvm-symbolizer", f"--obj={LIB}", "--inlining"],
    }
    envs: dict[str, dict[str, str]] = {}
    if _BEFORE is not None:
        for label, src in (("before", _BEFORE / "src"), ("this tree", ROOT / "src")):
            for mode, extra in (("text", []), ("--json", ["--json"])):
                key = f"{label}: {mode}"
                tools[key] = [PYTHON, "-c", ENTRY, "symbolize", *extra, LIB, "-"]
                envs[key] = {**os.environ, "PYTHONPATH": str(src)}
    for label, stdin in (("100k addresses", many), ("1 address (warm)", one)):
        for k, cmd in tools.items():
            wall(cmd, stdin, envs.get(k))  # warm: SymCache written, files in the page cache
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in tools}
        for _ in range(runs):
            for k, cmd in tools.items():  # alternating, so load changes hit all alike
                times[k].append(wall(cmd, stdin, envs.get(k)))
        ref = [statistics.median(x[i] for x in times["llvm-symbolizer"]) for i in (0, 1)]
        print(f"{label}, {LIB}, {runs} runs, load average {os.getloadavg()[0]:.1f} "
              "(wall / CPU of the process, median (min-max)):")
        for k, ts in times.items():
            cols = []
            for i in (0, 1):
                v = [x[i] for x in ts]
                med = statistics.median(v)
                cols.append(f"{med:.3f} ({min(v):.3f}-{max(v):.3f}) s = {med / ref[i]:.2f}x")
            print(f"  {k:20s} wall {cols[0]}, CPU {cols[1]}", flush=True)


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.1f}")
    runs = next((int(a) for a in sys.argv[1:] if a.isdigit()), 5)
    compileall.compile_dir(str(ROOT / "src" / "memlens"), quiet=1)
    if _BEFORE is not None:
        compileall.compile_dir(str(_BEFORE / "src" / "memlens"), quiet=1)
    cli(runs)
    if "--cli-only" in sys.argv:
        return
    symbols()
    with tempfile.TemporaryDirectory() as tmp:
        resident(Path(tmp))


if __name__ == "__main__":
    main()

"""Symbolization speed: memlens vs llvm-symbolizer, side by side in one run.

    .venv/bin/python benchmarks/bench_symbols.py [LIBRARY]
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from memlens.symbols.chain import symbolizer_for_file
from memlens.symbols.elffile import ElfFile
from memlens.symbols.elfsyms import load_elf_symbols

LIB = sys.argv[1] if len(sys.argv) > 1 else "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"


def main() -> None:
    t = time.perf_counter()
    with ElfFile(LIB) as elf:
        table = load_elf_symbols(elf)
        text = elf.section(".text")
    load = time.perf_counter() - t
    assert text is not None
    rng = np.random.default_rng(1)
    addrs = rng.integers(text.addr, text.addr + text.size, 100_000, dtype=np.uint64)
    t = time.perf_counter()
    pos, _off = table.lookup(addrs)
    lookup = time.perf_counter() - t
    print(f"{LIB}: {len(table)} symbols; load {load * 1e3:.1f} ms; "
          f"100k lookups {lookup * 1e3:.1f} ms ({(pos >= 0).mean():.1%} named)")
    sym = symbolizer_for_file(LIB, chain=["symtab"])
    sym.symbolize(addrs[:10].tolist())
    t = time.perf_counter()
    sym.symbolize(addrs.tolist())
    frames_ms = (time.perf_counter() - t) * 1e3
    print(f"100k frames (symtab chain, with Frame objects): {frames_ms:.0f} ms")
    batch = addrs[:10_000].tolist()
    full = symbolizer_for_file(LIB)
    full.symbolize(batch[:10])  # builds / opens the SymCache
    t = time.perf_counter()
    frames = full.symbolize(batch)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(["llvm-symbolizer", f"--obj={LIB}", "--inlining"],
                   input="\n".join(hex(a) for a in batch), capture_output=True, text=True,
                   check=True)  # fmt: skip
    llvm = time.perf_counter() - t
    print(f"10k file:line+inline: memlens {ours:.2f} s, llvm-symbolizer {llvm:.2f} s, "
          f"ratio {ours / llvm:.2f} ({sum(f.line is not None for f in frames)} with lines)")


if __name__ == "__main__":
    main()

"""Fuzz the crash-dump parsers with mutated real inputs; count inputs, errors, worst time.

Parsers: minidump streams (open + every stream's blocks + thread contexts), ELF core
notes (open + threads, registers, modules), Breakpad ``.sym`` (parse + lookups), DWARF
CFI (index + rows), and the two unwind expression languages.  Each input is a real
file with random bit flips, byte overwrites with boundary values and truncation.  Only
the parsers' own errors may escape (MemlensError, CfiError, ExprError); anything else
is printed and counted as a failure.  Peak traced memory is reported per parser.

Usage: .venv/bin/python benchmarks/fuzz_crash_parsers.py [inputs per parser] [seed] [only]
(``only``: a comma-separated list of words; parsers whose name contains one run)
"""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from memlens.analyses.minidump_streams import all_blocks  # noqa: E402
from memlens.errors import MemlensError  # noqa: E402
from memlens.sources.elfcore.reader import load as load_core  # noqa: E402
from memlens.sources.minidump.reader import load as load_minidump  # noqa: E402
from memlens.sources.options import OpenOptions  # noqa: E402
from memlens.symbols.breakpad_sym import BreakpadSymbols  # noqa: E402
from memlens.symbols.elffile import ElfFile  # noqa: E402
from memlens.unwind.dwarf_cfi import CfiError, CfiTable  # noqa: E402
from memlens.unwind.expr import ExprError, dwarf_expr, postfix  # noqa: E402

DATA = ROOT / "tests" / "data"
BOUNDARY = [0, 1, 0x7F, 0x80, 0xFF]
OURS = (MemlensError, CfiError, ExprError)


def mutate(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not raw:
            break
        at = rng.randrange(len(raw))
        if rng.random() < 0.5:
            raw[at] ^= 1 << rng.randrange(8)
        else:
            raw[at : at + 4] = bytes(rng.choice(BOUNDARY) for _ in range(4))
    if rng.random() < 0.3:
        del raw[rng.randrange(len(raw) + 1) :]
    return bytes(raw)


def minidump_case(tmp: Path, seeds: list[bytes]) -> Callable[[random.Random], None]:
    def run(rng: random.Random) -> None:
        path = tmp / "fuzz.dmp"
        path.write_bytes(mutate(rng, rng.choice(seeds)))
        snap = load_minidump(str(path), OpenOptions())
        with snap:
            all_blocks(snap.dump)
            for t in snap.threads:
                _ = t.pc, t.sp
    return run


def core_case(tmp: Path, seeds: list[bytes]) -> Callable[[random.Random], None]:
    def run(rng: random.Random) -> None:
        path = tmp / "fuzz.core"
        path.write_bytes(mutate(rng, rng.choice(seeds)))
        with load_core(str(path), OpenOptions()) as snap:
            _ = [(t.pc, t.sp, len(t.registers)) for t in snap.threads], snap.modules, snap.crash
    return run


def sym_case(text: str) -> Callable[[random.Random], None]:
    lines = text.splitlines()

    def run(rng: random.Random) -> None:
        picked = [lines[0]] + [mutate(rng, rng.choice(lines).encode()).decode("latin-1")
                               for _ in range(rng.randint(1, 60))]  # fmt: skip
        syms = BreakpadSymbols("fuzz.sym", "\n".join(picked))
        for _ in range(5):
            a = rng.randrange(1 << 20)
            syms.locate(a), syms.stack_win(a), syms.stack_cfi(a)
    return run


def cfi_case(data: bytes, addr: int) -> Callable[[random.Random], None]:
    def run(rng: random.Random) -> None:
        table = CfiTable(mutate(rng, data), addr, 8, "<", True)
        for _ in range(5):
            with contextlib.suppress(CfiError):
                table.row(addr + rng.randrange(1 << 16))
    return run


TOKENS = ["$eip", "$esp", ".cfa", "$T0", "+", "-", "*", "/", "%", "@", "^", "=", "0", "4",
          "-8", "0x10"]


def expr_case(rng: random.Random) -> None:
    with contextlib.suppress(ExprError):
        postfix(" ".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 30))),
                {"$eip": 1, "$esp": 0x1000, ".cfa": 0x1010}, lambda a: a ^ 5,
                0xFFFFFFFF, assign=rng.random() < 0.5)  # fmt: skip
    dwarf_expr(bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))),
               lambda n: n * 16, lambda a: a // 3, 8, "<", rng.choice([None, 0x7000]))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 13
    tmp = Path("/tmp") / f"memlens-fuzz-{seed}"
    tmp.mkdir(exist_ok=True)
    minidumps = [(DATA / "minidump" / n).read_bytes() for n in
                 ("minidump2.dmp", "linux_inline.dmp", "regions-memlist64.dmp")]  # fmt: skip
    cores = [(DATA / "elfcore" / n).read_bytes() for n in ("core_linux32.elf",)]
    sym = next((DATA / "minidump" / "symbols" / "kernel32.pdb").rglob("*.sym")).read_text()
    # the C library's .eh_frame (thousands of FDEs, expression rules, signal frames)
    libc = os.path.realpath(ctypes.util.find_library("c") and "/lib/x86_64-linux-gnu/libc.so.6")
    with ElfFile(libc) as elf:
        sec = elf.section(".eh_frame")
        assert sec is not None
        eh, eh_addr = bytes(elf.section_data(sec)), sec.addr
    cases: dict[str, Callable[[random.Random], None]] = {
        "minidump streams": minidump_case(tmp, minidumps),
        "ELF core notes": core_case(tmp, cores),
        "Breakpad .sym": sym_case(sym),
        "DWARF CFI (.eh_frame)": cfi_case(eh[: 4 << 10], eh_addr),  # its first 4 KiB
        "postfix + DWARF expressions": expr_case,
    }
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    for name, case in cases.items():
        if only is not None and not any(w.lower() in name.lower() for w in only):
            continue
        rng = random.Random(seed)
        failures = 0
        worst = 0.0
        tracemalloc.start()
        t0 = time.perf_counter()
        for i in range(count):
            t = time.perf_counter()
            try:
                case(rng)
            except OURS:
                pass
            except Exception as e:
                failures += 1
                if failures <= 3:
                    print(f"  {name} input {i}: {type(e).__name__}: {e}")
            worst = max(worst, time.perf_counter() - t)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{name:28} {count} inputs in {time.perf_counter() - t0:7.1f} s, "
              f"{failures} failures, slowest {worst * 1000:.1f} ms, peak {peak >> 10} KiB")


if __name__ == "__main__":
    main()

"""Fuzz every file parser of memlens with mutated real inputs.

For each parser, inputs are mutated from the real files in ``tests/data/`` (see
``tests/data/PROVENANCE.md``) or, for the formats memlens and MicroPython write
at run time, from files the real writers produce at start-up (``memlens run``
with the allocation shim for ``.mlheap``; MicroPython's unix port for
``mem_info(1)`` text).  Each input is run in this process through what the CLI
does with such a file -- open, every stream / region / thread, ``info``'s
summary -- under a per-input time limit (``ITIMER_REAL``) and with memory
watched (an address-space limit turns an oversized allocation into a
MemoryError; the peak RSS is checked after every input).  Only
``MemlensError`` may escape: anything else, a hang or memory growth is a
finding, saved under ``benchmarks/fuzz-findings/`` with its traceback.

Usage:
    .venv/bin/python benchmarks/fuzz_readers.py [--count N] [--parsers a,b] [--seed S]
        [--time-limit SECONDS] [--memory-mib MIB]

Parsers: minidump, elfcore, memdump, raw, meminfo, mlheap.  Exit status 1 when
any finding was made.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import fuzz_readers_mutate as mut  # noqa: E402
import fuzz_readers_seeds as fuzz_seeds  # noqa: E402
from memlens.errors import MemlensError  # noqa: E402

FINDINGS = ROOT / "benchmarks" / "fuzz-findings"
#: inputs of one finding signature kept on disk
KEEP_PER_SIGNATURE = 3


class Hang(BaseException):
    """Raised by the interval timer: a BaseException, so no ``except Exception`` eats it."""


@dataclass
class Stats:
    inputs: int = 0
    ok: int = 0
    errors: int = 0
    findings: int = 0
    hangs: int = 0
    memory: int = 0
    slowest: float = 0.0
    seconds: float = 0.0
    signatures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    name: str
    seeds: Callable[[Path], list[bytes]]
    run: Callable[[str, bytes], None]
    mutators: tuple[mut.Mutator, ...]


TARGETS = {
    t.name: t
    for t in (
        Target("minidump", fuzz_seeds.minidump_seeds, fuzz_seeds.run_minidump,
               mut.BYTE_MUTATORS + (mut.minidump_directory,) * 4),
        Target("elfcore", fuzz_seeds.elfcore_seeds, fuzz_seeds.run_elfcore,
               mut.BYTE_MUTATORS + (mut.elf_headers,) * 3 + (mut.elf_notes,) * 4),
        Target("memdump", fuzz_seeds.memdump_seeds, fuzz_seeds.run_memdump,
               mut.TEXT_MUTATORS + mut.BYTE_MUTATORS),
        Target("raw", fuzz_seeds.raw_seeds, fuzz_seeds.run_raw,
               (mut.set_word,) * 6 + mut.BYTE_MUTATORS),
        Target("meminfo", fuzz_seeds.meminfo_seeds, fuzz_seeds.run_meminfo,
               mut.TEXT_MUTATORS * 2 + mut.BYTE_MUTATORS),
        Target("mlheap", fuzz_seeds.mlheap_seeds, fuzz_seeds.run_mlheap,
               mut.BYTE_MUTATORS + (fuzz_seeds.mlheap_header,) * 4),
    )
}  # fmt: skip


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def _signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside memlens (where it went wrong)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "memlens" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _save(target: str, data: bytes, what: str, detail: str) -> Path:
    FINDINGS.mkdir(parents=True, exist_ok=True)
    ignore = FINDINGS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # findings are never committed
    digest = hashlib.sha1(data).hexdigest()[:12]
    path = FINDINGS / f"{target}-{what}-{digest}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(detail)
    return path


def fuzz(target: Target, count: int, seed: int, work: Path, time_limit: float,
         memory_mib: int) -> Stats:  # fmt: skip
    seeds = target.seeds(work)
    if not seeds:
        print(f"{target.name}: no seeds could be made; skipped", flush=True)
        return Stats()
    rng = random.Random(f"{seed}-{target.name}")
    stats = Stats()
    path = str(work / f"input.{target.name}")
    rss_bound = _max_rss_mib() + memory_mib
    rss_reported = False
    # An allocation past the bound fails (MemoryError, a finding) instead of taking the machine.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + (memory_mib << 20), hard))
    start = time.perf_counter()
    try:
        for n in range(count):
            base = seeds[n % len(seeds)]
            data = base if n < len(seeds) else mut.mutate(base, rng, target.mutators, seeds)
            t0 = time.perf_counter()
            outcome: BaseException | None = None
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            try:
                target.run(path, data)
            except MemlensError:
                stats.errors += 1
            except (Hang, Exception) as e:  # every other exception is a finding
                outcome = e
            else:
                stats.ok += 1
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            spent = time.perf_counter() - t0
            stats.slowest = max(stats.slowest, spent)
            stats.inputs += 1
            if outcome is not None:
                kind = "hang" if isinstance(outcome, Hang) else (
                    "memory" if isinstance(outcome, MemoryError) else "crash")  # fmt: skip
                sig = f"{kind}: {_signature(outcome)}"
                stats.findings += 1
                stats.hangs += kind == "hang"
                stats.memory += kind == "memory"
                seen = stats.signatures.get(sig, 0)
                stats.signatures[sig] = seen + 1
                if seen < KEEP_PER_SIGNATURE:
                    tb = "".join(traceback.format_exception(outcome))
                    saved = _save(target.name, data, kind, f"{sig}\n{tb}")
                    if seen == 0:
                        print(f"\n{target.name}: FINDING {sig} (input {n}, saved {saved})\n{tb}",
                              flush=True)  # fmt: skip
            if not rss_reported and _max_rss_mib() > rss_bound:
                rss_reported = True
                stats.findings += 1
                stats.memory += 1
                saved = _save(target.name, data, "rss", f"max RSS {_max_rss_mib():.0f} MiB")
                print(f"\n{target.name}: FINDING max RSS {_max_rss_mib():.0f} MiB "
                      f"> {rss_bound:.0f} (input {n}, saved {saved})", flush=True)  # fmt: skip
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    stats.seconds = time.perf_counter() - start
    return stats


def report(name: str, s: Stats) -> str:
    rate = s.inputs / s.seconds if s.seconds else 0.0
    return (f"{name:9s} {s.inputs:8d} {s.errors:8d} {s.ok:8d} {s.findings:8d} {s.hangs:6d} "
            f"{s.memory:6d} {rate:9.0f} {s.slowest * 1000:8.0f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100_000, help="inputs per parser")
    ap.add_argument("--parsers", default=",".join(TARGETS), help="comma-separated names")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per input")
    ap.add_argument("--memory-mib", type=int, default=512, help="growth allowed per parser")
    args = ap.parse_args(argv)
    names = [n for n in args.parsers.split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        ap.error(f"unknown parsers {unknown}; known: {', '.join(TARGETS)}")
    signal.signal(signal.SIGALRM, _on_alarm)
    head = (f"{'parser':9s} {'inputs':>8s} {'errors':>8s} {'ok':>8s} {'findings':>8s} "
            f"{'hangs':>6s} {'memory':>6s} {'inputs/s':>9s} {'max ms':>8s}")  # fmt: skip
    results: dict[str, Stats] = {}
    tmp_root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="memlens-fuzz-", dir=tmp_root) as tmp:
        for name in names:
            work = Path(tmp) / name
            work.mkdir()
            results[name] = fuzz(TARGETS[name], args.count, args.seed, work, args.time_limit,
                                 args.memory_mib)  # fmt: skip
            print(head if len(results) == 1 else "", end="\n" if len(results) == 1 else "")
            print(report(name, results[name]), flush=True)
    print("\n" + head)
    for name, s in results.items():
        print(report(name, s))
        for sig, k in sorted(s.signatures.items()):
            print(f"    {k:6d} x {sig}")
    print(f"python {sys.version.split()[0]}, seed {args.seed}, time limit {args.time_limit} s, "
          f"memory bound {args.memory_mib} MiB, max RSS {_max_rss_mib():.0f} MiB")  # fmt: skip
    return 1 if any(s.findings for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

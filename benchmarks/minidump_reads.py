"""memlens vs udmp-parser on one full-memory minidump: parse, then 20k random 8-byte reads.

The dump (4096 Memory64List ranges of 64 KiB = 256 MiB, plus a MemoryInfoList,
SystemInfo and a thread, which udmp-parser needs) is written by the tests'
independent writer.  Both readers run side by side in this one process, each
best-of-N, and every read is checked to return the same bytes.

    .venv/bin/pip install -e '.[bench]'      # udmp-parser, for this script only
    .venv/bin/python benchmarks/minidump_reads.py [--ranges 4096] [--range-size 65536]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.sources.minidump.synth import Synth

import memlens


def write_dump(path: Path, ranges: int, size: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(1)
    s = Synth()
    s.system_info(arch=9, platform=2)
    starts = [0x10000000 + i * (size + 0x10000) for i in range(ranges)]
    data = rng.integers(0, 256, size * ranges, dtype=np.uint8).tobytes()
    s.memory64_list([(a, data[i * size : (i + 1) * size]) for i, a in enumerate(starts)])
    s.memory_info_list([(a, size, 0x1000, 0x04, 0x20000) for a in starts])
    s.thread_list([(1, starts[0], b"", s.amd64_context(starts[0], starts[0] + 8))])
    path.write_bytes(s.build())
    return [(a, size) for a in starts]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranges", type=int, default=4096)
    ap.add_argument("--range-size", type=int, default=65536)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    try:
        import udmp_parser
    except ImportError:
        print("udmp-parser is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "full.dmp"
        ranges = write_dump(path, args.ranges, args.range_size)
        rng = np.random.default_rng(2)
        picks = rng.integers(0, len(ranges), args.reads)
        offsets = rng.integers(0, args.range_size - 8, args.reads)
        addrs = [ranges[i][0] + int(o) for i, o in zip(picks, offsets, strict=True)]

        def ml_parse() -> object:
            return memlens.open(str(path))

        def ud_parse() -> object:
            p = udmp_parser.UserDumpParser()
            assert p.Parse(str(path))
            return p

        # Interleaved rounds: both tools see the same machine load.  Best and median of each.
        rounds: list[tuple[float, float, float, float, float]] = []
        addr_array = np.array(addrs, dtype=np.uint64)
        for _ in range(args.repeat):
            t0, snap = timed(ml_parse)
            t1, parser = timed(ud_parse)
            read = snap.space.read  # type: ignore[attr-defined]
            ud_read = parser.ReadMemory  # type: ignore[attr-defined]
            t2, ml_out = timed(lambda: [read(a, 8) for a in addrs])  # noqa: B023
            t3, ud_out = timed(lambda: [bytes(ud_read(a, 8)) for a in addrs])  # noqa: B023
            # The batch API: one searchsorted + one gather for all 20k reads.
            read_many = snap.space.read_many  # type: ignore[attr-defined]
            t4, batch = timed(lambda: read_many(addr_array, 8))  # noqa: B023
            assert ml_out == ud_out, "the two readers disagree"
            assert [bytes(r) for r in batch] == ud_out, "read_many disagrees"  # type: ignore[attr-defined]
            rounds.append((t0, t1, t2, t3, t4))
            snap.close()  # type: ignore[attr-defined]
        size_mib = path.stat().st_size / (1 << 20)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, "
          f"file {size_mib:.0f} MiB, {args.ranges} Memory64List ranges, {args.reads} reads of 8 "
          f"bytes, {args.repeat} interleaved rounds")  # fmt: skip
    for what, pick in (("best", min), ("median", statistics.median), ("worst", max)):
        ml_parse_t, ud_parse_t, ml_read_t, ud_read_t, ml_batch_t = (
            pick(r[k] for r in rounds) for k in range(5))  # fmt: skip
        print(f"{what:12}{'memlens':>12}{'udmp-parser':>14}{'ratio':>8}")
        rows = (("parse", ml_parse_t, ud_parse_t), ("20k reads", ml_read_t, ud_read_t),
                ("total", ml_parse_t + ml_read_t, ud_parse_t + ud_read_t),
                ("read_many", ml_batch_t, ud_read_t),
                ("total/batch", ml_parse_t + ml_batch_t, ud_parse_t + ud_read_t))  # fmt: skip
        for label, a, b in rows:
            print(f"  {label:10}{a * 1000:>10.1f}ms{b * 1000:>12.1f}ms{a / b:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

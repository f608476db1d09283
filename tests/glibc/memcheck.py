"""valgrind memcheck as the oracle: its leak summary and its loss records, parsed."""

from __future__ import annotations

import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tests.glibc.programs import need

CLASSES = ("definitely lost", "indirectly lost", "possibly lost", "still reachable")
_RECORD = re.compile(r"^==\d+== ([\d,]+) (?:\(([\d,]+) direct, [\d,]+ indirect\) )?bytes in "
                     r"([\d,]+) blocks are (\w+ lost|still reachable) in loss record", re.M)
_FRAME = re.compile(r"^==\d+== +(?:at|by) (0x[0-9A-F]+): (\S+) \((.*)\)$", re.M)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def run_memcheck(argv: Sequence[str | Path], env: dict[str, str] | None = None) -> str:
    """valgrind's report up to its first LEAK SUMMARY (the program's check point)."""
    tool = need("valgrind")
    run = subprocess.run([tool, "--leak-check=full", "--show-leak-kinds=all",
                          "--num-callers=30", *map(str, argv)], input=b"",
                         capture_output=True, timeout=600,
                         env=None if env is None else {**os.environ, **env})  # fmt: skip
    text = run.stderr.decode()
    end = text.index("LEAK SUMMARY")
    return text[:text.index("\n", text.index("suppressed:", end))]


def summary(report: str) -> dict[str, tuple[int, int]]:
    """(blocks, bytes) per class."""
    tail = report[report.index("LEAK SUMMARY"):]
    out = {}
    for name in CLASSES:
        m = re.search(rf"{name}: ([\d,]+) bytes in ([\d,]+) blocks", tail)
        assert m, f"no {name!r} in valgrind's summary"
        out[name] = (_int(m[2]), _int(m[1]))
    return out


def records(report: str) -> list[tuple[str, int, int, list[str]]]:
    """Each loss record: class, blocks, bytes of its own blocks, the functions of its stack
    from the allocating call on (valgrind's replacement allocator left out; of the
    functions inlined at one address, the innermost, as memlens names a frame)."""
    out = []
    starts = list(_RECORD.finditer(report))
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(report)
        funcs, seen = [], set()
        for f in _FRAME.finditer(report, m.end(), end):
            if "vgpreload" not in f[3] and f[1] not in seen:
                funcs.append(f[2])
            seen.add(f[1])
        own = _int(m[2]) if m[2] else _int(m[1])
        out.append((m[4], _int(m[3]), own, funcs))
    return out


def by_function(rows: Sequence[tuple[str, int, int, Sequence[str]]],
                pick: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:  # fmt: skip
    """(class, allocating function) -> (blocks, bytes); with ``pick``, only the stacks
    that pass through that function, keyed by it."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for kind, blocks, size, funcs in rows:
        if pick is not None and pick not in funcs:
            continue
        key = (kind, pick if pick is not None else (funcs[0] if funcs else "?"))
        out[key][0] += blocks
        out[key][1] += size
    return {k: (v[0], v[1]) for k, v in out.items()}

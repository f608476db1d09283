"""``memlens run`` against ``memray run`` on issue 12's three workloads (a dict of 1e6
items, a 50 MB JSON load, a pool of 8 threads): the heap at its peak and the Python
lines holding it, each tool running the same script.

What both count: by default each sees what reaches the allocator -- ``malloc`` and
friends, and each pymalloc arena (1 MiB; ``mmap`` for memray, the arena allocator
for the shim) whole under the stack that opened it -- in requested bytes.

What only one can count, left out: ``memray run`` starts tracking when it hands
the script to runpy, so the interpreter's own start-up heap (its first arenas,
what ``site`` imported: about 6 MB) is not in its records, while the shim counts
every block from the first ``malloc``; and memray's start-up has already imported
json, threading and more, so the script's own imports allocate only under
memlens.  The comparison is therefore of the stacks with a frame of the script
and none of an import.

The pool's workers keep their lists (benchmarks/bench_python.py's pool keeps
nothing: its peak under the script is a few KB of thread state, all noise).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

needs_311 = pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="layouts are for 3.11")

WORKLOADS = {
    "dict": "table = {i: str(i) for i in range(1_000_000)}\nprint(len(table))\n",
    "json": (
        "import json, sys\n"
        "text = open(sys.argv[1]).read()\n"
        "data = json.loads(text)\n"
        "print(len(data))\n"
    ),
    "threads": (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def work(k):\n"
        "    return [[j] * 8 for j in range(100_000 + k)]\n"
        "with ThreadPoolExecutor(8) as pool:\n"
        "    rows = list(pool.map(work, range(8)))\n"
        "print(sum(map(len, rows)))\n"
    ),
}

Line = tuple[str, int | None]
#: one stack, as (file, line) of its Python frames innermost first, and its bytes at the peak
Stack = tuple[list[Line], int]


def write_json(path: Path, size: int = 50_000_000) -> None:
    """About ``size`` bytes of JSON records: strings, numbers and nested lists."""
    row = '{"id": %d, "name": "user-%d", "score": %d.5, "tags": ["a", "bb", "ccc"]},'
    with open(path, "w") as f:
        f.write("[")
        n = 0
        while f.tell() < size:
            f.write("".join(row % (i, i, i % 997) for i in range(n, n + 10_000)))
            n += 10_000
        f.write('{"id": -1}]')


def memray_peak(script: Path, args: Sequence[str], tmp: Path) -> list[Stack]:
    """memray's records at its high-water mark (``memray run``, its defaults)."""
    memray = pytest.importorskip("memray")
    capture = tmp / f"{script.stem}.bin"
    subprocess.run([sys.executable, "-m", "memray", "run", "-q", "-f", "-o", str(capture),
                    str(script), *args], check=True, capture_output=True, cwd=tmp)  # fmt: skip
    reader = memray.FileReader(str(capture))
    out = []
    for rec in reader.get_high_watermark_allocation_records(merge_threads=True):
        out.append(([(f[1], f[2]) for f in rec.stack_trace()], rec.size))
    assert sum(size for _, size in out) == reader.metadata.peak_memory
    return out


def memlens_peak(script: Path, args: Sequence[str], tmp: Path) -> list[Stack]:
    """memlens's peak column of every stack of ``memlens run``'s report.json."""
    out_dir = tmp / f"{script.stem}-out"
    done = subprocess.run([sys.executable, "-m", "memlens", "run", "-q", "--out", str(out_dir),
                           "--", sys.executable, str(script), *args], capture_output=True,
                          text=True, cwd=tmp, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((out_dir / "report.json").read_text())
    stacks = []
    for s in report["stacks"]:
        # a Python frame has a file and line but no module (native frames have one)
        python = [(f["file"], f["line"]) for f in s["frames"]
                  if f["module"] is None and f["file"] is not None]  # fmt: skip
        stacks.append((python, s["peak_bytes"]))
    assert sum(b for _, b in stacks) == report["summary"]["peak_bytes"]
    return stacks


def under(script: Path, stacks: Iterable[Stack]) -> list[Stack]:
    """The stacks with a frame of ``script`` (what was allocated while it ran) and none of
    an import: memray's own start-up imported json, threading and the like before it ran
    the script, so under memray the script's imports find their modules loaded."""
    return [
        (lines, b) for lines, b in stacks
        if any(f == str(script) for f, _ in lines)
        and not any(f.startswith("<frozen importlib") for f, _ in lines)
    ]  # fmt: skip


def by_line(stacks: Iterable[Stack]) -> dict[Line, int]:
    """Bytes per Python line: the innermost Python frame's (file, line)."""
    out: dict[Line, int] = {}
    for lines, b in stacks:
        if b == 0:
            continue
        out[lines[0]] = out.get(lines[0], 0) + b
    return out


#: a pymalloc arena: both tools count one whole under the stack whose small object
#: found the others full -- with 8 threads racing, a different line each run (once
#: threading.py's Condition.__init__ under memray and not under memlens)
ARENA = 1 << 20


def top5(lines: dict[Line, int], total: int) -> list[Line]:
    """The five lines holding most, of those holding at least 0.1% of ``total`` and
    more than two arenas: below that are a few KB that differ with each tool's own
    code (runpy's globals for the script under memray, its threads), or an arena or
    two a line opened by chance, not what the script did."""
    held = [k for k in lines if lines[k] >= total / 1000 and lines[k] > 2 * ARENA]
    return sorted(held, key=lambda k: (-lines[k], k))[:5]


@needs_311
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_peak_under_the_script_agrees_with_memray(name: str, tmp_path: Path) -> None:
    """The bytes live at the peak under the script, in total and per Python line, are
    memray's within 2%, and the same lines lead."""
    script = tmp_path / f"load_{name}.py"  # not json.py: it would shadow the module
    script.write_text(WORKLOADS[name])
    args = []
    if name == "json":
        write_json(tmp_path / "data.json")
        args = [str(tmp_path / "data.json")]
    theirs = under(script, memray_peak(script, args, tmp_path))
    ours = under(script, memlens_peak(script, args, tmp_path))
    their_total, our_total = sum(b for _, b in theirs), sum(b for _, b in ours)
    assert their_total > 100 << 20  # the workload's own heap, not interpreter noise
    assert abs(our_total - their_total) <= 0.02 * their_total
    their_lines, our_lines = by_line(theirs), by_line(ours)
    lead = top5(their_lines, their_total)
    assert top5(our_lines, our_total) == lead
    # dict: the comprehension; json: the decoder's scan and the file's decoding; threads:
    # the workers' list comprehension
    assert len(lead) == {"dict": 1, "json": 2, "threads": 1}[name]
    for line in lead:
        assert abs(our_lines[line] - their_lines[line]) <= 0.02 * their_lines[line], line

"""``pages --summary --raw`` against the kernel's own page-types, run beside it.

page-types (``tools/mm/page-types.c``) is in no Debian package and its source is
not in this repository: ``benchmarks/build_page_types.sh LINUX_SOURCE_DIR`` builds
it from a kernel tree, and ``MEMLENS_PAGE_TYPES`` names the binary.  Without it
the test skips; test_page_bits.py compares the same totals with a reimplementation
of page-types's counting, which always runs.

``page-types -r -p PID`` counts every present page by its expanded flag word
(overloaded kpageflags bits moved to its own slots, pagemap bits added) and every
swap entry -- guard-region markers (Linux 6.15) included, which memlens lists as
"guard" rather than swapped.  IDLE and REFERENCED are masked: the kernel flips
them between the two programs' reads.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from tests.conftest import OPTIONAL_PEER, need_root
from tests.sources.live.pagetarget import Target
from tests.sources.live.test_page_bits import _expand as expand

from memlens.cli.main import main

# include/uapi/linux/kernel-page-flags.h
KPF_REFERENCED, KPF_IDLE = 2, 25
# the pagemap entry (Documentation/admin-guide/mm/pagemap.rst)
PM_SOFT_DIRTY, PM_MMAP_EXCLUSIVE, PM_FILE, PM_SWAP = 55, 56, 61, 62
#: the pagemap_bits names of memlens's JSON, as pagemap bits
PAGEMAP_WORDS = {"file-page": PM_FILE, "exclusive": PM_MMAP_EXCLUSIVE,
                 "soft-dirty": PM_SOFT_DIRTY}  # fmt: skip
STABLE = ~(1 << KPF_IDLE | 1 << KPF_REFERENCED) & ((1 << 64) - 1)


def page_types() -> str:
    path = os.environ.get("MEMLENS_PAGE_TYPES", "")
    if not path or not os.access(path, os.X_OK):
        pytest.skip(OPTIONAL_PEER + "MEMLENS_PAGE_TYPES names no page-types binary "
                    "(benchmarks/build_page_types.sh LINUX_SOURCE_DIR builds one)")  # fmt: skip
    return path


def theirs(binary: str, pid: int) -> dict[int, int]:
    """page-types -r -p PID's summary: pages per flag word (volatile bits masked)."""
    out = subprocess.run([binary, "-r", "-p", str(pid)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    counts: dict[int, int] = {}
    for line in out.splitlines()[1:]:
        words = line.split()
        if words and words[0].startswith("0x"):
            key = int(words[0], 16) & STABLE
            counts[key] = counts.get(key, 0) + int(words[1])
    return counts


def ours(doc: dict[str, list[dict[str, object]]]) -> dict[int, int]:
    """memlens's totals as page-types words: guard markers and swap entries count as swap."""
    counts: dict[int, int] = {}
    for g in doc["totals"]:
        bits = g["pagemap_bits"]
        assert isinstance(bits, list)
        entry = sum(1 << PAGEMAP_WORDS[w] for w in bits if w in PAGEMAP_WORDS)
        if g["state"] in ("swapped", "guard"):
            entry |= 1 << PM_SWAP
        flags = g["kpageflags"] or 0
        pages = g["pages"]
        assert isinstance(flags, int) and isinstance(pages, int)
        key = expand(flags, entry) & STABLE
        counts[key] = counts.get(key, 0) + pages
    return counts


def test_summary_raw_equals_page_types_raw(target: Target,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    binary = page_types()
    need_root()
    for _ in range(5):  # pages change state between the two reads: retry a few times
        expected = theirs(binary, target.pid)
        assert main(["pages", str(target.pid), "--summary", "--raw", "--json"]) == 0
        got = ours(json.loads(capsys.readouterr().out))
        if got == expected:
            break
    assert got == expected
    assert sum(expected.values()) > 1000  # the mapping zoo holds thousands of pages

"""Inputs benchmarks/fuzz_readers.py found in memdump text, reduced by hand, kept as regression
tests.

Each was a failure the parser's contract forbids: an exception other than
MemlensError, or an allocation out of all proportion to the input.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from memlens.sources import memdump
from memlens.sources.options import OpenOptions

MEMDUMP = (
    b"[ PID=1]\n"
    b"8000-33000 r-xp 0 private_unevictable=8192 private=8192 shared_app=[] "
    b'shared_other_unevictable=147456 shared_other=147456 "/init" [v///fv0D]\n'
)


def test_memdump_open_allocates_by_the_file_not_by_the_cap(tmp_path: Path) -> None:
    # fuzz: under an address-space limit every memdump open failed with MemoryError,
    # because the whole file was read with f.read(1 GiB + 1), which allocates the
    # 1 GiB buffer before reading 200 bytes into it.
    path = tmp_path / "one.memdump"
    path.write_bytes(MEMDUMP)
    tracemalloc.start()
    try:
        snap = memdump.load(str(path), OpenOptions())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with snap:
        assert [(r.start, r.end) for r in snap.regions] == [(0x8000, 0x33000)]
    assert peak < 16 << 20, peak

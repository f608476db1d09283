"""Inputs benchmarks/fuzz_readers.py found, reduced by hand, kept as regression tests.

Each was a failure the parser's contract forbids: an exception other than
MemlensError, or an allocation out of all proportion to the input.
"""

from __future__ import annotations

import contextlib
import struct
import tracemalloc
from pathlib import Path

import pytest

from memlens.errors import FormatError
from memlens.heap.profile_file import loads
from memlens.sources import memdump
from memlens.sources.options import OpenOptions


def _mlheap(header: bytes) -> bytes:
    """A .mlheap file with no blocks, no stacks and no frames (docs: profile_file.py)."""
    offsets = struct.pack("<Q", 0)  # the one stack offset of m = 0 stacks
    return b"MLHEAPF\x00" + struct.pack("<II", 1, len(header)) + header + offsets


def test_mlheap_time_beyond_float_range_is_not_an_overflow() -> None:
    # fuzz: the header's "time" set to 10**400 made float() raise OverflowError
    data = _mlheap(b'{"n": 0, "m": 0, "k": 0, "time": 1' + b"0" * 400 + b"}")
    with contextlib.suppress(FormatError):
        assert loads(data).time is None


@pytest.mark.parametrize("field", ["base", "end", "load_bias"])
def test_mlheap_module_address_of_infinity_is_a_format_error(field: str) -> None:
    # fuzz: a module's base or end of 1e400 (JSON reads it as float inf) made int()
    # raise OverflowError
    values = {"base": b"4096", "end": b"8192", "load_bias": b"0"} | {field: b"1e400"}
    module = (b'{"path": "/lib/a.so", "base": %s, "end": %s, "build_id": null, "load_bias": %s}'
              % (values["base"], values["end"], values["load_bias"]))
    data = _mlheap(b'{"n": 0, "m": 0, "k": 0, "modules": [' + module + b"]}")
    with pytest.raises(FormatError, match="bad module entry"):
        loads(data)


def test_mlheap_integer_time_still_reads() -> None:
    data = _mlheap(b'{"n": 0, "m": 0, "k": 0, "time": 1733600000}')
    assert loads(data).time == 1733600000.0


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

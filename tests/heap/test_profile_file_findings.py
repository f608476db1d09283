"""Inputs benchmarks/fuzz_readers.py found in .mlheap files, reduced by hand, kept as regression
tests.

Each was a failure the parser's contract forbids: an exception other than
MemlensError, or an allocation out of all proportion to the input.
"""

from __future__ import annotations

import contextlib
import struct

import pytest

from memlens.errors import FormatError
from memlens.heap.profile_file import loads


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

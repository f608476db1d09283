"""search() against a naive scan: every backing path, chunk edges, alignment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.analyses import search as search_mod
from memlens.core import bytesearch
from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking


class _Reader:
    """A non-mmap backing (like a live process): exercises the chunked path."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]

    def find_all(
        self, pattern: bytes, start: int, end: int, align: int = 1, phase: int = 0
    ) -> Iterator[int]:
        return bytesearch.find_chunked(self.read, pattern, start, end, align, phase)

    def array(self, offset: int, size: int):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def _naive(data: bytes, base: int, pattern: bytes, align: int) -> list[int]:
    out = []
    at = data.find(pattern)
    while at >= 0:
        if (base + at) % align == 0:
            out.append(base + at)
        at = data.find(pattern, at + 1)
    return out


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=600),
    pattern=st.binary(min_size=1, max_size=9),
    plant=st.lists(st.integers(0, 600), max_size=6),
    base=st.integers(0, 64),
    align=st.sampled_from([1, 2, 4, 8]),
    mapped=st.booleans(),
)
def test_matches_naive_scan(data: bytes, pattern: bytes, plant: list[int], base: int,
                            align: int, mapped: bool) -> None:  # fmt: skip
    buf = bytearray(data)
    for p in plant:
        if p + len(pattern) <= len(buf):
            buf[p : p + len(pattern)] = pattern
    blob = bytes(buf)
    backing = BufferBacking(blob) if mapped else _Reader(blob)
    space = AddressSpace([], [Segment(0x1000 + base, 0x1000 + base + len(blob), backing, 0)]
                         if blob else [])  # fmt: skip
    old = bytesearch.NP_CHUNK, bytesearch.CHUNK
    bytesearch.NP_CHUNK, bytesearch.CHUNK = 64, 48  # many chunk edges
    try:
        got = list(search_mod.search(space, pattern, align=align))
    finally:
        bytesearch.NP_CHUNK, bytesearch.CHUNK = old
    assert got == _naive(blob, 0x1000 + base, pattern, align)


def test_patterns() -> None:
    assert search_mod.hex_pattern("0x48 65:6c") == b"Hel"
    assert search_mod.int_pattern(-1, 4, "little") == b"\xff\xff\xff\xff"
    assert search_mod.int_pattern(0x1122, 4, "big") == b"\x00\x00\x11\x22"
    with pytest.raises(search_mod.UsageError):
        search_mod.int_pattern(1 << 32, 4, "little")
    with pytest.raises(search_mod.UsageError):
        search_mod.hex_pattern("abc")

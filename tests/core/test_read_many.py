"""read_many() is read() for many addresses: same bytes, same errors."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.core.bytesearch import find_chunked
from memlens.errors import AddressError


class CallOnlyBacking:
    """A backing with no sliceable buffer (like a live process): read() calls only."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, offset: int, size: int) -> bytes:
        return self._data[offset : offset + size]

    def find_all(
        self, pattern: bytes, start: int, end: int, align: int = 1, phase: int = 0
    ) -> Iterator[int]:
        return find_chunked(self.read, pattern, start, end, align, phase)

    def array(self, offset: int, size: int) -> np.ndarray:  # type: ignore[type-arg]
        return np.frombuffer(self._data, dtype=np.uint8, count=size, offset=offset)


def _space() -> AddressSpace:
    a = BufferBacking(bytes(range(256)) * 4)
    b = BufferBacking(bytes(255 - i for i in range(256)) * 2)
    c = CallOnlyBacking(bytes((i + 7) % 256 for i in range(256)))
    return AddressSpace(
        [],
        [
            Segment(0x1000, 0x1100, a, 0x10),
            Segment(0x1100, 0x1180, b, 0x20),  # adjacent, another buffer
            Segment(0x1180, 0x1200, None),  # mapped, not saved
            Segment(0x2000, 0x2100, c, 0),  # no buffer: read() path
            Segment((1 << 64) - 0x100, 1 << 64, a, 0),  # up to the top of the space
        ],
    )


ADDRESSES = st.one_of(
    st.integers(0xFF0, 0x1210),
    st.integers(0x1FF0, 0x2110),
    st.integers((1 << 64) - 0x110, (1 << 64) - 1),
)


def _expected(space: AddressSpace, addr: int, size: int, pad: bool) -> bytes | AddressError:
    try:
        return space.read(addr, size, pad=pad)
    except AddressError as e:
        return e


@settings(max_examples=300, deadline=None)
@given(st.lists(ADDRESSES, min_size=1, max_size=40), st.integers(1, 24), st.booleans())
def test_same_bytes_and_errors_as_read(addrs: list[int], size: int, pad: bool) -> None:
    space = _space()
    expected = [_expected(space, a, size, pad) for a in addrs]
    first_error = next((e for e in expected if isinstance(e, AddressError)), None)
    if first_error is not None:
        with pytest.raises(AddressError) as err:
            space.read_many(np.array(addrs, dtype=np.uint64), size, pad=pad)
        assert (err.value.address, err.value.reason) == (first_error.address, first_error.reason)
        return
    got = space.read_many(np.array(addrs, dtype=np.uint64), size, pad=pad)
    assert got.shape == (len(addrs), size)
    assert [bytes(row) for row in got] == expected


def test_values_across_buffers_and_columns_space() -> None:
    space = _space()
    got = space.read_many([0x1000, 0x10FE, 0x1100, 0x2000], 4)
    assert [bytes(r) for r in got] == [
        bytes([0x10, 0x11, 0x12, 0x13]),
        bytes([0x0E, 0x0F, 0xDF, 0xDE]),  # crosses into the second buffer
        bytes([0xDF, 0xDE, 0xDD, 0xDC]),
        bytes([7, 8, 9, 10]),
    ]
    cols = AddressSpace.from_columns(
        [], np.array([0x1000, 0x3000], dtype=np.uint64), np.array([0x100, 0x10], dtype=np.uint64),
        np.array([0, 0x200], dtype=np.uint64), np.array([True, False]),
        BufferBacking(bytes(range(256)) * 4),
    )  # fmt: skip
    assert bytes(cols.read_many([0x10FC], 4)[0]) == bytes([0xFC, 0xFD, 0xFE, 0xFF])
    with pytest.raises(AddressError) as err:
        cols.read_many([0x1000, 0x3004], 4)
    assert (err.value.address, err.value.reason) == (0x3004, "not saved")


def test_a_piece_near_the_top_keeps_the_others_on_the_gather(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The vsyscall page (0xffffffffff600000, in gcore cores) has a delta beyond int64;
    it alone goes through read(), every other piece still through the gather."""
    data = bytes(range(256)) * 32
    low, top = 0x10000, 0xFFFFFFFFFF600000
    space = AddressSpace([], [Segment(low, low + 4096, BufferBacking(data), 0),
                              Segment(top, top + 4096, BufferBacking(data), 4096)])  # fmt: skip
    calls: list[int] = []
    read = AddressSpace.read

    def counted(self: AddressSpace, address: int, size: int, pad: bool = False) -> bytes:
        calls.append(address)
        return read(self, address, size, pad=pad)

    monkeypatch.setattr(AddressSpace, "read", counted)
    addrs = [low, low + 100, low + 4088, top + 8]
    got = space.read_many(addrs, 8)
    assert [bytes(r) for r in got] == [data[0:8], data[100:108], data[4088:4096],
                                       data[4104:4112]]  # fmt: skip
    assert calls == [top + 8]

from __future__ import annotations

import pytest

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.errors import AddressError


def _space(byteorder: str = "little", word: int = 8) -> AddressSpace:
    data = BufferBacking(bytes(range(256)) * 2)
    return AddressSpace(
        [],
        [
            Segment(0x1000, 0x1100, data, 0),
            Segment(0x1100, 0x1200, data, 256),  # adjacent, from another offset
            Segment(0x1200, 0x1300, None),  # mapped, not saved
        ],
        word_size=word,
        byteorder=byteorder,  # type: ignore[arg-type]
    )


def test_reads_across_adjacent_segments() -> None:
    space = _space()
    assert space.read(0x10FE, 4) == bytes([0xFE, 0xFF, 0x00, 0x01])


def test_not_saved_raises_and_pad_zero_fills() -> None:
    space = _space()
    with pytest.raises(AddressError) as err:
        space.read(0x11FE, 4)
    assert err.value.address == 0x1200 and err.value.reason == "not saved"
    assert space.read(0x11FE, 4, pad=True) == bytes([0xFE, 0xFF, 0, 0])


def test_unmapped_raises_with_first_bad_address() -> None:
    space = _space()
    with pytest.raises(AddressError) as err:
        space.read(0xFFE, 4)
    assert err.value.address == 0xFFE and err.value.reason == "unmapped"
    assert space.read(0xFFE, 4, pad=True) == b"\0\0\0\x01"


def test_typed_reads_follow_byte_order_and_word_size() -> None:
    assert _space().u32(0x1000) == 0x03020100
    assert _space("big").u32(0x1000) == 0x00010203
    assert _space(word=4).pointer(0x1004) == 0x07060504
    assert _space().pointer(0x1000) == 0x0706050403020100
    assert list(_space(word=4).words(0x1000, 2)) == [0x03020100, 0x07060504]


def test_find_reports_addresses_and_alignment() -> None:
    space = _space()
    assert list(space.find(bytes([4, 5]))) == [0x1004, 0x1104]
    assert list(space.find(bytes([5, 6]), align=2)) == []
    assert list(space.find(bytes([4, 5]), 0x1100)) == [0x1104]

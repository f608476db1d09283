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


def _split_space() -> AddressSpace:
    """A segment at 0x1000 split by an earlier, overlapping one at 0x1008-0x1010:
    the piece of the later segment that remains starts at 0x1010, 16 bytes into it."""
    later = BufferBacking(bytes(range(64)))
    earlier = BufferBacking(b"\xee" * 8)
    return AddressSpace(
        [], [Segment(0x1008, 0x1010, earlier, 0), Segment(0x1000, 0x1040, later, 0)]
    )


def test_view_of_a_split_segment_reads_the_piece_own_bytes() -> None:
    space = _split_space()
    assert space.read(0x1010, 4) == bytes([0x10, 0x11, 0x12, 0x13])
    view = space.view(0x1010, 4)
    assert view is not None and view.tobytes() == bytes([0x10, 0x11, 0x12, 0x13])
    assert space.view(0x1008, 4) is not None and space.view(0x1008, 4).tobytes() == b"\xee" * 4  # type: ignore[union-attr]
    pieces = {start: arr.tobytes() for start, arr in space.saved_pieces()}
    assert pieces[0x1010][:4] == bytes([0x10, 0x11, 0x12, 0x13])
    assert pieces[0x1000] == bytes(range(8))


def test_view_word_and_masked_reads_refuse_what_is_not_saved() -> None:
    space = _space()
    assert space.view(0x11FE, 4) is None  # runs into the not-saved segment
    assert space.view(0x10FE, 4) is None  # spans two pieces: no single view
    assert space.view(0xFFF, 1) is None
    assert space.word(0x1000) == int.from_bytes(bytes(range(8)), "little")
    assert space.word(0x11FC) is None
    data, mask = space.read_masked(0x11FE, 4)
    assert data == bytes([0xFE, 0xFF, 0, 0]) and mask == [True, True, False, False]

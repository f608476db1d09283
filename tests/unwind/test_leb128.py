"""The one LEB128 decoder, against the examples of the DWARF 5 standard (tables 7.6, 7.7)."""

from __future__ import annotations

import pytest

from memlens.unwind.leb128 import Leb128Error, read_leb128

UNSIGNED = [(2, b"\x02"), (127, b"\x7f"), (128, b"\x80\x01"), (129, b"\x81\x01"),
            (130, b"\x82\x01"), (12857, b"\xb9\x64")]  # fmt: skip
SIGNED = [(2, b"\x02"), (-2, b"\x7e"), (127, b"\xff\x00"), (-127, b"\x81\x7f"),
          (128, b"\x80\x01"), (-128, b"\x80\x7f"), (129, b"\x81\x01"),
          (-129, b"\xff\x7e")]  # fmt: skip


@pytest.mark.parametrize(("value", "encoded"), UNSIGNED)
def test_unsigned_examples_of_the_standard(value: int, encoded: bytes) -> None:
    data = b"\xaa" + encoded + b"\xbb"
    assert read_leb128(data, 1, len(data), signed=False) == (value, 1 + len(encoded))


@pytest.mark.parametrize(("value", "encoded"), SIGNED)
def test_signed_examples_of_the_standard(value: int, encoded: bytes) -> None:
    assert read_leb128(encoded, 0, len(encoded), signed=True) == (value, len(encoded))


def test_a_number_cut_by_its_end_is_an_error() -> None:
    with pytest.raises(Leb128Error, match="past its end"):
        read_leb128(b"\x80\x80\x01", 0, 2, signed=False)


def test_more_bits_than_any_dwarf_value_is_an_error() -> None:
    with pytest.raises(Leb128Error, match="too long"):
        read_leb128(b"\x80" * 12 + b"\x01", 0, 13, signed=False)

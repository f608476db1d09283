"""Python-frame decoding on hostile input: random location tables, memory images and
saved rows never raise and never read more than their bounds allow."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.heap import pyframes

BASE = 0x10000


@given(st.binary(max_size=200), st.integers(-(2**31), 2**31 - 1), st.integers(0, 4000))
def test_line_of_any_table_is_an_int_or_none(table: bytes, first: int, offset: int) -> None:
    line = pyframes.line_of(table, first, offset)
    assert line is None or isinstance(line, int)


@given(st.binary(max_size=200), st.integers(-(2**31), 2**31 - 1), st.integers(0, 4000))
def test_a_table_decoded_whole_answers_as_one_decoded_up_to_the_offset(
    table: bytes, first: int, offset: int
) -> None:
    """The reader decodes a code object's table up to the first offset asked, and whole
    at the second: both answer the same for every offset."""
    assert pyframes.decode_lines(table, first).line(offset) == pyframes.line_of(
        table, first, offset)  # fmt: skip


SIZE = 1024
TYPE_AT, NAME_AT = 0x40, 0x10  # a type named "code", so the reader goes on to the fields


def plant(image: bytearray, at: int, word: int) -> None:
    if 0 <= at <= len(image) - 8:
        image[at : at + 8] = word.to_bytes(8, "little")


@settings(max_examples=300)
@given(
    st.binary(min_size=SIZE, max_size=SIZE),
    st.lists(st.tuples(st.integers(0x80, SIZE - 8), st.integers(0, 2**40),
                       st.sampled_from([11, 12, 13, 99]),
                       st.lists(st.integers(0, SIZE + 64), min_size=3, max_size=3)),
             max_size=4),
)  # fmt: skip
def test_code_reader_on_hostile_memory_names_or_gives_up(
    raw: bytes, frames: list[tuple[int, int, int, list[int]]]
) -> None:
    """Code objects of a type named "code" whose fields point anywhere (past the
    image too) at bytes of any value: a frame comes back, its texts bounded."""
    image = bytearray(raw)
    image[NAME_AT : NAME_AT + 5] = b"code\0"
    plant(image, TYPE_AT + pyframes.TP_NAME, BASE + NAME_AT)
    for at, _, minor, fields in frames:
        layout = pyframes.CODE_LAYOUTS.get(minor)
        plant(image, at + pyframes.OB_TYPE, BASE + TYPE_AT)
        if layout is not None:
            for off, target in zip((layout.qualname, layout.filename, layout.linetable), fields,
                                   strict=True):
                plant(image, at + off, BASE + target)
    space = AddressSpace([], [Segment(BASE, BASE + SIZE, BufferBacking(bytes(image)), 0)])
    reader = pyframes.CodeReader(space)
    for at, offset, minor, _ in frames:
        f = reader.frame(pyframes.PY_TAG | (minor << 48) | (BASE + at), offset)
        assert f.code == BASE + at and f.offset == offset
        for text in (f.function, f.file):
            assert text is None or len(text) <= pyframes.MAX_TEXT


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=6), max_leaves=30))  # fmt: skip
def test_saved_rows_of_any_shape_are_skipped_not_trusted(rows: object) -> None:
    table = pyframes.table_from_rows(rows)
    for (word, offset), f in table.items():
        assert isinstance(word, int) and isinstance(offset, int)
        assert f.function is None or isinstance(f.function, str)
        assert f.line is None or type(f.line) is int

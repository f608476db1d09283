"""The pagemap entry layout, typed from the kernel's
``Documentation/admin-guide/mm/pagemap.rst``::

    * Bits 0-54  page frame number (PFN) if present
    * Bits 0-4   swap type if swapped
    * Bits 5-54  swap offset if swapped
    * Bit  55    pte is soft-dirty
    * Bit  56    page exclusively mapped (since 4.2)
    * Bit  57    pte is uffd-wp write-protected (since 5.13)
    * Bit  58    pte is a guard region (since 6.15)
    * Bits 59-60 zero
    * Bit  61    page is file-page or shared-anon (since 3.5)
    * Bit  62    page swapped
    * Bit  63    page present

Synthetic entries with bits 54 and 55 set are decoded by memlens (the numpy
columns of ``PageTable`` and the C line formatter of ``memlens pages``) and
compared with fields cut out by this table, not by memlens's constants.
"""

from __future__ import annotations

import re

import numpy as np

from memlens.core.pages import PageTable
from memlens.render.pagelines import render_table


def bits(lo: int, hi: int) -> int:
    """Mask of bits lo..hi inclusive, as the document numbers them."""
    return sum(1 << b for b in range(lo, hi + 1))


PFN = bits(0, 54)
SWAP_TYPE = bits(0, 4)
SWAP_OFFSET = bits(5, 54)
SOFT_DIRTY, EXCLUSIVE, UFFD_WP, GUARD, FILE, SWAPPED, PRESENT = 55, 56, 57, 58, 61, 62, 63

PRESENT_ENTRIES = [
    1 << PRESENT | 1 << 54 | 0x1234,  # the top PFN bit
    1 << PRESENT | 1 << SOFT_DIRTY | 1 << 54 | 0xABC,  # top PFN bit beside soft-dirty
    1 << PRESENT | 1 << SOFT_DIRTY | 0x42,  # soft-dirty alone above the PFN
    (1 << 64) - 1,  # every bit
]
SWAPPED_ENTRIES = [
    1 << SWAPPED | 1 << 54 | 5 << 5 | 3,
    1 << SWAPPED | 1 << SOFT_DIRTY | 1 << 54 | 1 << 5 | 0x1F,
    1 << SWAPPED | 1 << SOFT_DIRTY | 9 << 5 | 2,
]


def _table(entries: list[int]) -> PageTable:
    return PageTable(0x7F0000000000, 4096, np.array(entries, dtype=np.uint64))


def test_pfn_is_bits_0_to_54() -> None:
    table = _table(PRESENT_ENTRIES)
    assert table.pfn.tolist() == [e & PFN for e in PRESENT_ENTRIES]
    assert table.pfn.tolist()[:3] == [1 << 54 | 0x1234, 1 << 54 | 0xABC, 0x42]
    assert table.soft_dirty.tolist() == [bool(e >> SOFT_DIRTY & 1) for e in PRESENT_ENTRIES]


def test_swap_type_and_offset_are_bits_0_4_and_5_54() -> None:
    table = _table(SWAPPED_ENTRIES)
    assert table.swap_type.tolist() == [e & SWAP_TYPE for e in SWAPPED_ENTRIES]
    assert table.swap_offset.tolist() == [(e & SWAP_OFFSET) >> 5 for e in SWAPPED_ENTRIES]
    assert table.swap_offset.tolist() == [1 << 49 | 5, 1 << 49 | 1, 9]


def test_every_flag_bit_of_an_all_ones_entry() -> None:
    table = _table([(1 << 64) - 1])
    assert table.present[0] and table.swapped[0] and table.file_or_shared[0]
    assert table.exclusive[0] and table.soft_dirty[0] and table.uffd_wp[0] and table.guard[0]


def test_the_page_lines_show_the_same_swap_fields() -> None:
    # ``memlens pages`` prints "swap <offset, 16 hex digits>  type <n>" per swapped page
    text = render_table(_table(SWAPPED_ENTRIES)).decode()
    swap = re.finditer(r"swap ([0-9a-f]{16})  type (\d+)", text)
    found = [(int(m[1], 16), int(m[2])) for m in swap]
    assert found == [((e & SWAP_OFFSET) >> 5, e & SWAP_TYPE) for e in SWAPPED_ENTRIES]
    soft = ["soft-dirty" in line for line in text.splitlines()]
    assert soft == [bool(e >> SOFT_DIRTY & 1) for e in SWAPPED_ENTRIES]

"""kpageflags bit names, typed from the kernel's headers: bits 0-26 from
``include/uapi/linux/kernel-page-flags.h`` (``KPF_LOCKED 0`` ... ``KPF_PGTABLE
26``), the raw bits 32-41 from ``include/linux/kernel-page-flags.h``.  Bit 34
is left out: in current kernels the page flag behind it is ``PG_mappedtodisk``
on file pages and ``PG_anon_exclusive`` on anonymous ones.  Both memlens's
Python names and the C line formatter of ``memlens pages`` are checked."""

from __future__ import annotations

import pytest

from memlens.core.pages import flag_names
from memlens.render.pagelines import flag_text

UAPI = {
    "LOCKED": 0, "ERROR": 1, "REFERENCED": 2, "UPTODATE": 3, "DIRTY": 4, "LRU": 5,
    "ACTIVE": 6, "SLAB": 7, "WRITEBACK": 8, "RECLAIM": 9, "BUDDY": 10, "MMAP": 11,
    "ANON": 12, "SWAPCACHE": 13, "SWAPBACKED": 14, "COMPOUND_HEAD": 15,
    "COMPOUND_TAIL": 16, "HUGE": 17, "UNEVICTABLE": 18, "HWPOISON": 19, "NOPAGE": 20,
    "KSM": 21, "THP": 22, "OFFLINE": 23, "ZERO_PAGE": 24, "IDLE": 25, "PGTABLE": 26,
}  # fmt: skip
KERNEL_ONLY = {
    "RESERVED": 32, "MLOCKED": 33, "PRIVATE": 35, "PRIVATE_2": 36, "OWNER_PRIVATE": 37,
    "ARCH": 38, "UNCACHED": 39, "SOFTDIRTY": 40, "ARCH_2": 41,
}  # fmt: skip


@pytest.mark.parametrize(("name", "bit"), sorted(UAPI.items(), key=lambda kv: kv[1]))
def test_public_bit_names(name: str, bit: int) -> None:
    assert flag_names(1 << bit) == [name]
    assert flag_text(1 << bit, False) == name
    # raw names expand overloaded bits as page-types -r does (tools/mm/page-types.c):
    # PG_reclaim without PG_writeback is PG_readahead
    assert flag_names(1 << bit, raw=True) == ["READAHEAD" if name == "RECLAIM" else name]


@pytest.mark.parametrize(("name", "bit"), sorted(KERNEL_ONLY.items(), key=lambda kv: kv[1]))
def test_raw_bit_names(name: str, bit: int) -> None:
    assert flag_names(1 << bit, raw=True) == [name]
    assert flag_text(1 << bit, True) == name
    # not part of the stable ABI: hidden unless raw flags are asked for
    assert flag_names(1 << bit) == []
    assert flag_text(1 << bit, False) == ""


def test_unassigned_bits_have_no_name() -> None:
    for bit in range(27, 32):
        assert flag_names(1 << bit, raw=True) == []
        assert flag_text(1 << bit, True) == f"BIT{bit}"


def test_several_bits_are_listed_in_bit_order() -> None:
    flags = 1 << UAPI["ANON"] | 1 << UAPI["LRU"] | 1 << UAPI["UPTODATE"]
    flags |= 1 << KERNEL_ONLY["MLOCKED"]
    assert flag_names(flags) == ["UPTODATE", "LRU", "ANON"]
    assert flag_names(flags, raw=True) == ["UPTODATE", "LRU", "ANON", "MLOCKED"]

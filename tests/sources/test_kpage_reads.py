"""Bulk kpage* reads (spans of nearby PFNs, one pread each) against one read per PFN.

A regular file stands in for /proc/kpageflags: the same layout (one
little-endian uint64 per PFN), so no root is needed and every value is known.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.sources.live.pagemap import PFN_GAP_MERGE, kpage_spans, read_kpage

FILE_PFNS = 3000


def one_by_one(path: Path, pfns: list[int]) -> list[int]:
    out = []
    with open(path, "rb") as f:
        for pfn in pfns:
            f.seek(pfn * 8)
            raw = f.read(8)
            out.append(struct.unpack("<Q", raw)[0] if len(raw) == 8 else 0)
    return out


@pytest.fixture(scope="module")
def kpage_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kpage") / "kpageflags"
    values = np.random.default_rng(7).integers(0, 2**64, FILE_PFNS, dtype=np.uint64)
    path.write_bytes(values.astype("<u8").tobytes())
    return path


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(0, FILE_PFNS + 40), st.integers(0, 2**40)), max_size=200))
def test_spans_give_what_single_reads_give(kpage_file: Path, pfns: list[int]) -> None:
    arr = np.array(pfns, dtype=np.uint64)
    assert read_kpage(str(kpage_file), arr).tolist() == one_by_one(kpage_file, pfns)


def test_nearby_pfns_share_a_read() -> None:
    pfns = np.array([100, 100 + PFN_GAP_MERGE, 5, 100 + 2 * PFN_GAP_MERGE + 1, 5], dtype=np.uint64)
    # 5 alone; 100..100+gap together; the last one just beyond the gap alone
    assert kpage_spans(pfns) == [(5, 1), (100, PFN_GAP_MERGE + 1),
                                 (100 + 2 * PFN_GAP_MERGE + 1, 1)]  # fmt: skip

"""The batch lookup in the SymCache's own tables answers what symbolic's C lookup answers."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from memlens.symbols import dwarf
from memlens.symbols.symcache_index import SymCacheIndex, dense_unique
from tests.symbols.cxx_progs import build_cxx
from tests.symbols.progs import build_generated


def _addresses(index: SymCacheIndex) -> list[int]:
    """Every range start and the byte before it, random addresses, and ones no range has."""
    starts = index.ranges.astype(np.int64)
    rng = random.Random(18)
    top = int(starts[-1]) + 256
    return (starts.tolist() + (starts - 1).tolist()
            + [rng.randrange(0, top) for _ in range(5000)]
            + [top + 4096, (1 << 32) + 5, 1 << 40, (1 << 64) - 1, -1])  # fmt: skip


@pytest.mark.parametrize("which", ["c-O2", "cxx-O3"])
def test_batch_lookup_is_symbolics_lookup(build_dir: Path, which: str) -> None:
    exe = (build_generated(build_dir / "index_c") if which == "c-O2"
           else build_cxx(build_dir / "index_cxx", "-O3"))  # fmt: skip
    table = dwarf.LineTable(str(exe), None, use_cache=False)
    index = table._index()
    assert index is not None
    addresses = _addresses(index)
    ours = table.lookup(addresses)
    theirs = table.lookup_each(addresses)
    assert len(ours) == len(theirs) == len(addresses)
    differ = [(hex(a), o, t) for a, o, t in zip(addresses, ours, theirs, strict=True) if o != t]
    assert not differ, differ[:5]
    # the comparison saw inline chains, not only empty answers
    assert max(len(x) for x in theirs) >= 2
    assert sum(1 for x in theirs if x) > len(addresses) // 2


def test_damaged_symcache_is_refused(build_dir: Path) -> None:
    exe = build_generated(build_dir / "index_bad")
    table = dwarf.LineTable(str(exe), None, use_cache=False)
    index = table._index()
    assert index is not None
    raw = bytes(memoryview(index._bytes))
    with pytest.raises(ValueError, match="truncated"):
        SymCacheIndex(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a SymCache"):
        SymCacheIndex(b"ELF" + raw[3:])
    other = bytearray(raw)
    other[4] = 8  # format version 8
    with pytest.raises(ValueError, match="version 8"):
        SymCacheIndex(bytes(other))


def test_dense_unique_is_numpy_unique() -> None:
    values = np.array([5, -1, 3, 5, 0, -1, 7, 3], np.int64)
    uniq, inverse = dense_unique(values, 8)
    want, want_inverse = np.unique(values, return_inverse=True)
    assert uniq.tolist() == want.tolist()
    assert inverse.tolist() == want_inverse.tolist()

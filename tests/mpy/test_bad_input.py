"""Bad input gives one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.cli.main import main
from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.errors import MemlensError
from memlens.mpy.gather import PieceGather
from memlens.mpy.memory import analyse_any_word
from memlens.mpy.objects import objects


def test_gathers_refuse_wrapped_and_outside_addresses() -> None:
    """``end - 1`` with ``end == 0`` wraps to 2**64 - 1: not saved, not a negative index."""
    data = bytes(range(64))
    space = AddressSpace([], [Segment(0x1000, 0x1040, BufferBacking(data))], word_size=8)
    g = PieceGather(space)
    addrs = np.array([0, 0x1000, 0x103F, 0x1040, (1 << 64) - 1, 0xFFF], dtype=np.uint64)
    got, ok = g.bytes_at(addrs)
    assert ok.tolist() == [False, True, True, False, False, False]
    assert got.tolist() == [0, 0, 63, 0, 0, 0]
    words, ok = g.words_at(np.array([0x1038, 0x1039, (1 << 64) - 4], dtype=np.uint64))
    assert ok.tolist() == [True, False, False]
    assert int(words[0]) == int.from_bytes(data[0x38:0x40], "little")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(["mpy", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def test_no_heap_names_every_word_size_tried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "zeros.bin"
    dump.write_bytes(bytes(1 << 16))
    rc, err = _run(capsys, str(dump), "--format", "raw", "--base", "0x20000000")
    assert rc == 1 and len(err.strip().splitlines()) == 1
    for what in ("64-bit little-endian", "32-bit little-endian", "64-bit big-endian",
                 "32-bit big-endian"):  # fmt: skip
        assert what in err


def test_heap_bounds_outside_the_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "small.bin"
    dump.write_bytes(bytes(4096))
    rc, err = _run(capsys, str(dump), "--format", "raw", "--base", "1000", "--heap", "1000:9000")
    assert rc == 1 and "not all saved" in err and len(err.strip().splitlines()) == 1
    rc, err = _run(capsys, str(dump), "--format", "raw", "--base", "1000", "--heap", "2000:1000")
    assert rc == 1 and "not above its start" in err


@settings(max_examples=80, deadline=None)
@given(raw=st.binary(min_size=0, max_size=4096), lo=st.integers(0, 5000),
       size=st.integers(-16, 5000), word=st.sampled_from([4, 8]))  # fmt: skip
def test_heap_bounds_over_any_bytes(raw: bytes, lo: int, size: int, word: int) -> None:
    """``--heap`` over arbitrary bytes and bounds: a heap or a MemlensError, nothing else."""
    base = 0x10000
    space = AddressSpace([], [Segment(base, base + len(raw), BufferBacking(raw))] if raw else [],
                         word_size=word)  # fmt: skip
    try:
        heap = analyse_any_word(space, "fuzz", None, False, (base + lo, base + lo + size))
        heap.block_chars()
        objects(heap)
    except MemlensError:
        pass

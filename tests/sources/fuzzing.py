"""Shared helpers for the parser property tests: open, exercise, allow only MemlensError."""

from __future__ import annotations

from pathlib import Path

import memlens
from memlens.analyses.summary import summarize

#: reads done per region while exercising a snapshot
READ_LIMIT = 1 << 14


def exercise(path: Path, fmt: str | None = None) -> None:
    """Open ``path`` and use what it gives; any exception but MemlensError fails the test."""
    try:
        with memlens.open(str(path), memlens.OpenOptions(format=fmt)) as snap:
            summarize(snap)
            for region in snap.regions[:64]:
                snap.space.read(region.start, min(region.size, READ_LIMIT), pad=True)
            for thread in snap.threads:
                _ = thread.pc, thread.sp
            for module in snap.modules:
                _ = module.size
    except memlens.MemlensError as e:
        assert str(e)  # one clear line
        assert "\n" not in str(e)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)

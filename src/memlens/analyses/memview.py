"""Bytes of a range with which of them are available, and what an address points into."""

from __future__ import annotations

import os

from memlens.core.addrspace import AddressSpace


def read_masked(space: AddressSpace, address: int, size: int) -> tuple[bytes, list[bool]]:
    """``size`` bytes at ``address`` (zeros where unavailable) and a per-byte "available" mask.

    A live backing can refuse part of a segment; such parts count as unavailable.
    """
    data = bytearray(size)
    mask = [False] * size
    end = address + size
    for start, stop, seg in space.segments.overlapping(address, end):
        if seg.backing is None:
            continue
        lo, hi = max(start, address), min(stop, end)
        try:
            chunk = seg.backing.read(seg.backing_offset + lo - seg.start, hi - lo)
        except Exception:  # an unreadable span is shown as unavailable
            continue
        data[lo - address : hi - address] = chunk
        mask[lo - address : hi - address] = [True] * (hi - lo)
    return bytes(data), mask


def describe_address(space: AddressSpace, value: int) -> str:
    """``name+0xoff`` of the region holding ``value``, or ``""`` when unmapped."""
    region = space.region_at(value)
    if region is None:
        return ""
    name = os.path.basename(region.path) if region.path else region.label()
    return f"{name}+{value - region.start:#x}"

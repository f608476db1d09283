"""What an address points into, named for a reader: ``libc.so.6+0x1f00``, ``[heap]+0x10``."""

from __future__ import annotations

import os

from memlens.core.addrspace import AddressSpace


def describe_address(space: AddressSpace, value: int) -> str:
    """``name+0xoff`` of the region holding ``value``, or ``""`` when unmapped."""
    region = space.region_at(value)
    if region is None:
        return ""
    name = os.path.basename(region.path) if region.path else region.label()
    return f"{name}+{value - region.start:#x}"

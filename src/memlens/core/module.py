"""A file loaded into a target's address space."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Module:
    """A loaded file: where it is mapped and how to identify it.

    ``load_bias`` is the value added to the file's ``p_vaddr`` to get runtime
    addresses (computed from PT_LOAD headers when the file is known).
    """

    path: str
    base: int
    end: int
    build_id: bytes | None = None
    debug_id: str | None = None
    load_bias: int | None = None

    @property
    def size(self) -> int:
        return self.end - self.base

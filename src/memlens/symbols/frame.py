"""The result of symbolizing one address.

Unknown parts stay ``None`` -- never a guess.  ``inlined_by`` lists the
functions the address's code was inlined into, innermost caller first, each as
a frame with its own file:line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Frame:
    address: int
    module: str | None = None
    module_offset: int | None = None
    function: str | None = None
    function_offset: int | None = None
    file: str | None = None
    line: int | None = None
    inlined_by: tuple[Frame, ...] = field(default_factory=tuple)

    def short(self) -> str:
        """``function+0x12 (module)`` or ``0xaddr (module+0xoff)`` when the name is unknown."""
        mod = self.module.rsplit("/", 1)[-1] if self.module else None
        if self.function:
            off = f"+{self.function_offset:#x}" if self.function_offset else ""
            return f"{self.function}{off}" + (f" ({mod})" if mod else "")
        if mod is not None and self.module_offset is not None:
            return f"{self.address:#x} ({mod}+{self.module_offset:#x})"
        return f"{self.address:#x}"


class AddressSymbolizer(Protocol):
    """Anything that turns a batch of addresses into frames (one per address, same order)."""

    def symbolize(self, addresses: Sequence[int]) -> list[Frame]: ...

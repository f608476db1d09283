"""The result of symbolizing one address.

Unknown parts stay ``None`` -- never a guess.  ``inlined_by`` lists the
functions the address's code was inlined into, innermost caller first, each as
a frame with its own file:line.  ``note`` says what an address outside every
function is (``padding after f``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast


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
    note: str | None = None

    def short(self) -> str:
        """``function+0x12 (module)`` or ``0xaddr (module+0xoff)`` when the name is unknown."""
        mod = self.module.rsplit("/", 1)[-1] if self.module else None
        if self.function:
            off = f"+{self.function_offset:#x}" if self.function_offset else ""
            return f"{self.function}{off}" + (f" ({mod})" if mod else "")
        if self.note:
            return f"({self.note})" + (f" ({mod})" if mod else "")
        if mod is not None and self.module_offset is not None:
            return f"{self.address:#x} ({mod}+{self.module_offset:#x})"
        return f"{self.address:#x}"


class _FrameBuilder:
    """Frame's exact slot layout without the frozen ``__setattr__``: bulk construction.

    A frozen dataclass's ``__init__`` stores each field through
    ``object.__setattr__``; building 100k frames that way costs about twice as
    long as plain slot stores.  :func:`make_frames` builds these and then
    re-labels them as :class:`Frame` (same layout, so ``__class__`` may change);
    from then on they are ordinary immutable frames.
    """

    # CPython lays slots out in sorted order whatever the spelling; the layouts match
    __slots__ = ("address", "file", "function", "function_offset", "inlined_by", "line",
                 "module", "module_offset", "note")  # fmt: skip

    def __init__(self, address: int, module: str | None, module_offset: int | None,
                 function: str | None, function_offset: int | None, file: str | None,
                 line: int | None, inlined_by: tuple[Frame, ...],
                 note: str | None = None) -> None:  # fmt: skip
        self.address = address
        self.module = module
        self.module_offset = module_offset
        self.function = function
        self.function_offset = function_offset
        self.file = file
        self.line = line
        self.inlined_by = inlined_by
        self.note = note


assert sorted(_FrameBuilder.__slots__) == sorted(Frame.__slots__)


def make_frames(
    address: Iterable[int], module: Iterable[str | None], module_offset: Iterable[int | None],
    function: Iterable[str | None], function_offset: Iterable[int | None],
    file: Iterable[str | None], line: Iterable[int | None],
    inlined_by: Iterable[tuple[Frame, ...]], note: Iterable[str | None] | None = None,
) -> list[Frame]:
    """Frames from columns (one value per frame in each), as fast as Python allows."""
    columns = [address, module, module_offset, function, function_offset, file, line,
               inlined_by] + ([note] if note is not None else [])  # fmt: skip
    out: list[object] = list(map(_FrameBuilder, *columns))
    for f in out:
        f.__class__ = Frame
    return cast(list[Frame], out)


def new_frame(address: int, module: str | None, module_offset: int | None,
              function: str | None, function_offset: int | None, file: str | None,
              line: int | None) -> Frame:  # fmt: skip
    """One frame without inline callers, built the way :func:`make_frames` builds them."""
    f: object = _FrameBuilder(address, module, module_offset, function, function_offset, file,
                              line, ())  # fmt: skip
    f.__class__ = Frame
    return cast(Frame, f)


class AddressSymbolizer(Protocol):
    """Anything that turns a batch of addresses into frames (one per address, same order)."""

    def symbolize(self, addresses: Sequence[int]) -> list[Frame]: ...

"""Struct layouts as data, and the records they decode into.

A :class:`Layout` is a named, ordered table of fields; each field has a
``struct`` code, an element count and a display style (how Breakpad's
``minidump_dump`` shows it: hex, decimal, a time stamp...).  Field names are
Breakpad's (``stack.memory.rva``) so a record prints the way the reference tool
prints it.  A :class:`Record` is one decoded struct: the values in table order,
plus the file offset it came from -- the raw struct kept beside whatever a
stream decodes from it.

Minidumps are packed to 4 bytes with no implicit padding, so every layout is
unpacked with ``<`` or ``>`` (no alignment); explicit padding fields keep the
on-disk size exact.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

ByteOrder = Literal["little", "big"]

#: display styles a renderer understands
Style = Literal["x", "d", "time", "bytes", "pair", "stream", "arch", "platform", "hidden"]

Value = int | bytes | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """One struct member: ``count`` elements of ``code`` (``"16s"`` is one bytes value)."""

    name: str
    code: str
    count: int = 1
    style: Style = "x"


def f(name: str, code: str, style: Style = "x", count: int = 1) -> Field:
    """Shorthand for table rows."""
    return Field(name, code, count, style)


class Layout:
    """A struct: its name (Breakpad's, e.g. ``MDRawThread``), fields and size."""

    __slots__ = ("_by_order", "fields", "index", "name", "size")

    def __init__(self, name: str, fields: Sequence[Field]) -> None:
        self.name = name
        self.fields = tuple(fields)
        self.index = {fd.name: i for i, fd in enumerate(self.fields)}
        fmt = "".join(
            fd.code if fd.count == 1 else f"{fd.count}{fd.code}" for fd in self.fields
        )
        self._by_order = {"little": struct.Struct("<" + fmt), "big": struct.Struct(">" + fmt)}
        self.size = self._by_order["little"].size

    def unpack(self, buffer: bytes | memoryview, offset: int, order: ByteOrder) -> Record:
        """Decode one struct at ``offset``; ``struct.error`` when it does not fit."""
        flat = self._by_order[order].unpack_from(buffer, offset)
        values: list[Value] = []
        i = 0
        for fd in self.fields:
            if fd.count == 1 or fd.code.endswith("s"):
                values.append(flat[i])
                i += 1
            else:
                values.append(tuple(flat[i : i + fd.count]))
                i += fd.count
        return Record(self, offset, tuple(values))


class Record:
    """One decoded struct: values in layout order, and where it was read."""

    __slots__ = ("layout", "offset", "values")

    def __init__(self, layout: Layout, offset: int, values: tuple[Value, ...]) -> None:
        self.layout = layout
        self.offset = offset
        self.values = values

    def __getitem__(self, name: str) -> int:
        """An integer field by name (``KeyError`` when absent, ``TypeError`` if not an int)."""
        value = self.get(name)
        if not isinstance(value, int):
            raise TypeError(f"{self.layout.name}.{name} is not an integer")
        return value

    def get(self, name: str) -> Value:
        i = self.layout.index.get(name)
        if i is None:
            raise KeyError(f"{self.layout.name} has no field {name!r}")
        return self.values[i]

    def has(self, name: str) -> bool:
        return name in self.layout.index

    def items(self) -> Iterator[tuple[Field, Value]]:
        return iter(zip(self.layout.fields, self.values, strict=True))

    def __repr__(self) -> str:
        return f"<{self.layout.name} at {self.offset:#x}>"

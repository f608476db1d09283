"""GNU ld ``-Map`` files as a symbol source (firmware: where is ``mp_state_ctx``?).

The part after ``Linker script and memory map`` lists output sections
(column 0), input sections (`` .text.foo  0xADDR  0xSIZE file.o``; a long
section name sits alone on its line and the numbers follow on the next), the
symbols defined in each input section (``  0xADDR  name``) and linker script
assignments (``  0xADDR  _srelocate = .``, ``PROVIDE (__foo = .)``).

A symbol's size is the distance to the next symbol of the same input section,
or to the section's end -- exact under ``-ffunction-sections
-fdata-sections``, where each symbol has its own input section.  Assigned
symbols have no size.  ``Discarded input sections`` (address 0) are skipped.

Raises :class:`~memlens.errors.FormatError` when the file is not a map file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from memlens.errors import FormatError
from memlens.symbols.nmtext import table_from_symbols
from memlens.symbols.symtable import Symbol, SymbolTable

_NUM = r"0x[0-9a-fA-F]+"
#: input section with its numbers: " .text.foo  0xADDR  0xSIZE  file.o"
_INPUT = re.compile(rf"^ (\S+)\s+({_NUM})\s+({_NUM})(?:\s+(.*))?$")
#: the numbers of an input section whose name was on the previous line
_INPUT_CONT = re.compile(rf"^\s+({_NUM})\s+({_NUM})(?:\s+(.*))?$")
#: a bare input section name (long names wrap)
_INPUT_NAME = re.compile(r"^ (\.\S+|COMMON|\*fill\*)\s*$")
#: output section: ".text  0xADDR  0xSIZE" at column 0 (numbers may wrap to the next line)
_OUTPUT = re.compile(rf"^(\.\S+|[A-Za-z_]\S*)(?:\s+({_NUM})(?:\s+({_NUM}))?.*)?$")
#: symbol defined in an input section: "   0xADDR   name"
_SYMBOL = re.compile(rf"^\s+({_NUM})\s+([A-Za-z_.$][\w.$@]*)\s*$")
#: assignment: "   0xADDR   name = expr" or "PROVIDE (name = expr)"
_ASSIGN = re.compile(
    rf"^\s+({_NUM})\s+(?:PROVIDE(?:_HIDDEN)?\s*\(\s*)?([A-Za-z_.$][\w.$]*)\s*=\s*(.*?)\)?\s*$"
)
_MEMORY = re.compile(rf"^(\S+)\s+({_NUM})\s+({_NUM})(?:\s+(\S+))?\s*$")


@dataclass(frozen=True, slots=True)
class MemoryRegion:
    """A ``MEMORY`` entry of the linker script (``Memory Configuration``)."""

    name: str
    origin: int
    length: int
    attributes: str = ""


@dataclass(frozen=True, slots=True)
class OutputSection:
    name: str
    address: int
    size: int


@dataclass(frozen=True, slots=True)
class MapSymbol:
    """A symbol of the map: ``assigned`` when set by the script (``_srelocate = .``)."""

    name: str
    address: int
    size: int | None
    section: str | None
    object_file: str | None
    assigned: bool = False
    expression: str | None = None


@dataclass(slots=True)
class LinkerMap:
    memory: list[MemoryRegion] = field(default_factory=list)
    sections: list[OutputSection] = field(default_factory=list)
    symbols: list[MapSymbol] = field(default_factory=list)

    def address_of(self, name: str) -> int | None:
        """Address of ``name`` (a defined symbol first, else an assignment)."""
        best: MapSymbol | None = None
        for s in self.symbols:
            if s.name == name and (best is None or (best.assigned and not s.assigned)):
                best = s
        return None if best is None else best.address

    def find(self, name: str) -> MapSymbol | None:
        for s in self.symbols:
            if s.name == name and not s.assigned:
                return s
        return next((s for s in self.symbols if s.name == name), None)

    def table(self, source: str = "") -> SymbolTable:
        """All symbols as a :class:`SymbolTable` (code sections' symbols count as functions)."""
        syms = [
            Symbol(s.name, s.address, s.size,
                   "function" if (s.section or "").startswith(".text") else
                   "object" if s.section else "other",
                   "A" if s.assigned else None)
            for s in self.symbols
        ]  # fmt: skip
        return table_from_symbols(syms, source)


@dataclass(slots=True)
class _Input:
    name: str
    address: int
    size: int
    obj: str | None
    names: list[tuple[int, str]] = field(default_factory=list)


def _flush(inp: _Input | None, out: list[MapSymbol]) -> None:
    if inp is None:
        return
    end = inp.address + inp.size
    ordered = sorted(inp.names)
    for k, (addr, name) in enumerate(ordered):
        nxt = ordered[k + 1][0] if k + 1 < len(ordered) else end
        size = nxt - addr if inp.address <= addr <= nxt <= end else None
        out.append(MapSymbol(name, addr, size, inp.name, inp.obj))


def parse_map_lines(lines: Iterable[str], source: str = "map") -> LinkerMap:
    """Parse a GNU ld map file.

    Raises:
        FormatError: the text has neither a memory map nor any map-file line.
    """
    result = LinkerMap()
    part = "head"
    inp: _Input | None = None
    pending_input: str | None = None
    pending_output: str | None = None
    saw_map = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("Memory Configuration"):
            part = "memory"
            continue
        if line.startswith("Linker script and memory map"):
            _flush(inp, result.symbols)
            inp = None
            part, saw_map = "map", True
            continue
        if line.startswith("Discarded input sections") or line.startswith("Cross Reference"):
            _flush(inp, result.symbols)
            inp = None
            part = "skip"
            continue
        if part == "memory":
            m = _MEMORY.match(line)
            if m and m.group(1) != "Name":
                result.memory.append(MemoryRegion(m.group(1), int(m.group(2), 16),
                                                  int(m.group(3), 16), m.group(4) or ""))
            continue
        if part != "map" or not line.strip():
            continue
        if pending_output is not None:
            m = _INPUT_CONT.match(line)
            if m:
                result.sections.append(OutputSection(pending_output, int(m.group(1), 16),
                                                     int(m.group(2), 16)))  # fmt: skip
                pending_output = None
                continue
            pending_output = None
        if pending_input is not None:
            m = _INPUT_CONT.match(line)
            pending, pending_input = pending_input, None
            if m:
                _flush(inp, result.symbols)
                inp = _Input(pending, int(m.group(1), 16), int(m.group(2), 16), m.group(3))
                continue
        if not line[0].isspace():
            m = _OUTPUT.match(line)
            if m and m.group(1).startswith("."):
                _flush(inp, result.symbols)
                inp = None
                if m.group(3):
                    result.sections.append(OutputSection(m.group(1), int(m.group(2), 16),
                                                         int(m.group(3), 16)))  # fmt: skip
                elif not m.group(2):
                    pending_output = m.group(1)
            continue
        m = _ASSIGN.match(line)
        if m:
            result.symbols.append(MapSymbol(m.group(2), int(m.group(1), 16), None,
                                            inp.name if inp else None, None, True,
                                            m.group(3).strip()))  # fmt: skip
            continue
        m = _SYMBOL.match(line)
        if m:
            if inp is not None:
                inp.names.append((int(m.group(1), 16), m.group(2)))
            continue
        m = _INPUT.match(line)
        if m:
            _flush(inp, result.symbols)
            inp = _Input(m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4))
            continue
        if _INPUT_NAME.match(line):
            pending_input = line.strip()
    _flush(inp, result.symbols)
    if not saw_map and not result.symbols:
        raise FormatError(source, None, "not a GNU ld map file (no 'Linker script and memory map')")
    return result


def load_map(path: str) -> LinkerMap:
    """Parse the GNU ld map file at ``path``.

    Raises:
        FormatError: unreadable, or not a map file.
    """
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return parse_map_lines(f, path)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None

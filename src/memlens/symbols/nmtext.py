"""``nm`` text output as a symbol source: BSD (default) and POSIX (``-P``) formats.

BSD lines are ``VALUE [SIZE] TYPE NAME`` (``nm``, ``nm -S``, ``nm -C``: the
name may contain spaces); POSIX lines are ``NAME TYPE VALUE [SIZE]``.
Undefined symbols (``U``, ``w``, ``v`` with no value) are skipped.  The format
is decided once per file from its first unambiguous line.  ``nm -A``/``-o``
prefixes (``file:``) and the ``file:`` headers of archives are skipped.
Every symbol keeps its original line (``memlens resident`` prints it).

Raises :class:`~memlens.errors.FormatError` when no line of the file is nm output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from memlens.errors import FormatError
from memlens.symbols.symtable import (
    BIND_GLOBAL,
    BIND_LOCAL,
    BIND_WEAK,
    KIND_FUNC,
    KIND_OBJECT,
    KIND_OTHER,
    Symbol,
    SymbolTable,
)

_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_TYPE = re.compile(r"[A-Za-z?\-]\Z")
#: undefined / no-address types
_UNDEFINED = set("Uwv")
#: types that name code
_FUNC_TYPES = set("TtWiI")
_OBJECT_TYPES = set("DdBbRrGgSsCVu")
#: more than this many bytes of text is not an nm listing
MAX_LINE = 1 << 16


def _bsd(tokens: list[str], line: str) -> tuple[str, int, int | None, str] | None:
    """``VALUE [SIZE] TYPE NAME`` -> (name, value, size, type), or None."""
    if len(tokens) >= 3 and _HEX.match(tokens[0]) and _TYPE.match(tokens[1]):
        name = line.split(None, 2)[2]
        return name, int(tokens[0], 16), None, tokens[1]
    if len(tokens) >= 4 and _HEX.match(tokens[0]) and _HEX.match(tokens[1]) and _TYPE.match(
            tokens[2]):  # fmt: skip
        name = line.split(None, 3)[3]
        return name, int(tokens[0], 16), int(tokens[1], 16), tokens[2]
    return None


def _posix(tokens: list[str], line: str) -> tuple[str, int, int | None, str] | None:
    """``NAME TYPE VALUE [SIZE]`` -> (name, value, size, type); the name may hold spaces."""
    if len(tokens) >= 4 and _TYPE.match(tokens[-3]) and _HEX.match(tokens[-2]) and _HEX.match(
            tokens[-1]):  # fmt: skip
        return " ".join(tokens[:-3]), int(tokens[-2], 16), int(tokens[-1], 16), tokens[-3]
    if len(tokens) >= 3 and _TYPE.match(tokens[-2]) and _HEX.match(tokens[-1]):
        return " ".join(tokens[:-2]), int(tokens[-1], 16), None, tokens[-2]
    return None


def _is_undefined_line(tokens: list[str]) -> bool:
    # BSD "                 U printf", POSIX "printf U"
    return (len(tokens) == 2 and (tokens[0] in _UNDEFINED or tokens[1] in _UNDEFINED)) or (
        len(tokens) >= 2 and tokens[0] in _UNDEFINED)  # fmt: skip


def parse_nm_lines(lines: Iterable[str], source: str = "nm") -> list[Symbol]:
    """The defined symbols of nm output, in file order.

    Raises:
        FormatError: no line is nm output (the file is something else).
    """
    symbols: list[Symbol] = []
    fmt: str | None = None
    seen_text = False
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if len(line) > MAX_LINE:
            raise FormatError(source, None, f"line {number} is {len(line)} bytes long")
        body = line.strip()
        if not body or (body.endswith(":") and " " not in body):
            continue  # blank, or "lib.a(obj.o):" archive member header
        seen_text = True
        tokens = body.split()
        if _is_undefined_line(tokens):
            continue
        if ":" in tokens[0] and (fmt is None or fmt == "bsd") and not _HEX.match(tokens[0]):
            # nm -A / -o: "file: VALUE TYPE NAME"
            prefix_end = line.find(": ")
            if prefix_end > 0 and _bsd(line[prefix_end + 2 :].split(), line[prefix_end + 2 :]):
                line = line[prefix_end + 2 :]
                body = line.strip()
                tokens = body.split()
        parsed = None
        if fmt in (None, "bsd"):
            parsed = _bsd(tokens, body)
            if parsed and fmt is None:
                fmt = "bsd"
        if parsed is None and fmt in (None, "posix"):
            parsed = _posix(tokens, body)
            if parsed and fmt is None:
                fmt = "posix"
        if parsed is None:
            continue
        name, value, size, letter = parsed
        if letter in _UNDEFINED:
            continue
        kind = "function" if letter in _FUNC_TYPES else "object" if letter in (
            _OBJECT_TYPES) else "other"  # fmt: skip
        symbols.append(Symbol(name, value, size, kind, letter, line))
    if seen_text and fmt is None:
        raise FormatError(source, None, "no line looks like nm output")
    return symbols


def table_from_symbols(symbols: list[Symbol], source: str = "") -> SymbolTable:
    """A :class:`SymbolTable` over parsed symbols (nm text or a linker map)."""
    n = len(symbols)
    addresses = np.fromiter((s.address for s in symbols), np.uint64, n)
    sizes = np.fromiter((s.size or 0 for s in symbols), np.uint64, n)
    known = np.fromiter((s.size is not None for s in symbols), bool, n)
    kind_code = {"function": KIND_FUNC, "object": KIND_OBJECT}
    kinds = np.fromiter((kind_code.get(s.kind, KIND_OTHER) for s in symbols), np.uint8, n)

    def bind(s: Symbol) -> int:
        letter = s.type_letter or "T"
        if letter in "VvWw":
            return BIND_WEAK
        return BIND_GLOBAL if letter.isupper() else BIND_LOCAL

    binds = np.fromiter((bind(s) for s in symbols), np.uint8, n)
    # absolute symbols (type A) name values, not places
    lookup = np.fromiter((s.type_letter not in ("A", "a") for s in symbols), bool, n)
    return SymbolTable(
        addresses, sizes, [s.name for s in symbols], kinds=kinds, binds=binds,
        size_known=known, lookup_mask=lookup, letters=[s.type_letter for s in symbols],
        lines=[s.line for s in symbols], source=source,
    )  # fmt: skip


def load_nm(path: str) -> SymbolTable:
    """Parse an nm output file into a :class:`SymbolTable`.

    Raises:
        FormatError: unreadable, or not nm output.
    """
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return table_from_symbols(parse_nm_lines(f, path), path)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None

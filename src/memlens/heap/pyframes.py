"""Python frames in heap stacks: the shim's tagged words, named from the target's memory.

When the shim runs inside CPython its stacks carry the Python frames, two words
each (``shim/pyframes.h``), after the native frames below the first eval-loop
frame (with ``MEMLENS_NATIVE=1``: in place of each eval-loop frame)::

    w[i]     0x50 << 56 | minor version << 48 | address of the code object
    w[i+1]   byte offset of the executing instruction in the code object

Nothing else is recorded: the function's qualified name, its file and the line
are read here from the code object in the process's memory, a live process or a
core alike (``docs/python.md``).  A code object that is gone (freed before the
snapshot, or not saved in a core) gives a frame with no name, never a guess: the
object's type must be named ``code`` and its reference count be that of a live
object (a module's body is freed as soon as its import ends, and the ``str``
objects it named may already hold another text).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memlens.core.addrspace import AddressSpace
from memlens.errors import MemlensError

PY_TAG = 0x50 << 56
TAG_MASK = 0xFF << 56
ADDRESS_MASK = (1 << 48) - 1
MAX_TEXT = 4096  # longest name or path decoded (characters)
MAX_LINETABLE = 1 << 20


@dataclass(frozen=True, slots=True)
class CodeLayout:
    """Where a version's ``PyCodeObject`` keeps what a frame needs (LP64 offsets)."""

    firstlineno: int  # int
    filename: int  # str *
    qualname: int  # str *
    linetable: int  # bytes *
    code: int  # co_code_adaptive, also the type's tp_basicsize
    ascii_data: int  # sizeof(PyASCIIObject): an ASCII str's characters
    compact_data: int  # sizeof(PyCompactUnicodeObject): another compact str's


CODE_ITEMSIZE = 2  # PyCode_Type.tp_itemsize: sizeof(_Py_CODEUNIT)


#: ``Include/cpython/code.h`` per minor version; tests/heap/test_python_layouts.py
#: checks these against offsetof() on each interpreter's own headers.
CODE_LAYOUTS = {
    11: CodeLayout(firstlineno=72, filename=112, qualname=128, linetable=136, code=184,
                   ascii_data=48, compact_data=72),
    12: CodeLayout(firstlineno=68, filename=112, qualname=128, linetable=136, code=192,
                   ascii_data=40, compact_data=56),
    13: CodeLayout(firstlineno=68, filename=112, qualname=128, linetable=136, code=200,
                   ascii_data=40, compact_data=56),
}  # fmt: skip

OB_REFCNT = 0  # PyObject.ob_refcnt
OB_TYPE = 8  # PyObject.ob_type
#: A live object's count is at least 1 and far below this; a freed one's is 0 (set by its
#: last Py_DECREF) or an allocator's free-list pointer (a PIE's heap and mmap addresses on
#: 64-bit Linux are above 2**44).
MAX_REFCNT = 1 << 40
TP_NAME = 24  # PyTypeObject.tp_name
TP_BASICSIZE = 32  # PyTypeObject.tp_basicsize
TP_ITEMSIZE = 40  # PyTypeObject.tp_itemsize
VAR_SIZE = 16  # PyVarObject.ob_size
BYTES_DATA = 32  # PyBytesObject.ob_sval
STR_LENGTH = 16  # PyASCIIObject.length
STR_STATE = 32  # PyASCIIObject.state: interned:2 kind:3 compact:1 ascii:1 (3.11-3.13)


@dataclass(frozen=True, slots=True)
class PyFrame:
    """One Python frame of a stack: where it ran, and its name when the code object was read."""

    code: int
    offset: int
    minor: int
    function: str | None = None
    file: str | None = None
    line: int | None = None


def is_python_word(word: int) -> bool:
    return (word & TAG_MASK) == PY_TAG


def split_stack(stack: Sequence[int]) -> list[int | tuple[int, int]]:
    """The stack's entries in order: native return addresses, and ``(tag word, offset)``
    pairs for Python frames.  A tag word with no offset after it (a cut record) is dropped.
    (A list built in one loop: a run's report splits every one of its thousands of stacks.)"""
    out: list[int | tuple[int, int]] = []
    i, n = 0, len(stack)
    while i < n:
        w = stack[i]
        if w >> 56 == 0x50:  # is_python_word(w), inline: PY_TAG >> 56
            if i + 1 < n:
                out.append((w, stack[i + 1]))
            i += 2
        else:
            out.append(w)
            i += 1
    return out


def has_python(stacks: Iterable[Sequence[int]]) -> bool:
    return any(is_python_word(w) for s in stacks for w in s)


def _varint(table: bytes, i: int) -> tuple[int, int]:
    b = table[i]
    value, shift = b & 63, 0
    while b & 64:
        i += 1
        b = table[i]
        shift += 6
        value |= (b & 63) << shift
    return value, i + 1


def _svarint(table: bytes, i: int) -> tuple[int, int]:
    v, i = _varint(table, i)
    return (-(v >> 1) if v & 1 else v >> 1), i


@dataclass(frozen=True, slots=True)
class LineTable:
    """A code object's location table, decoded: entry k covers code units
    ``[starts[k], starts[k + 1])`` (the last ends at ``end``) and has line ``lines[k]``."""

    starts: list[int]
    lines: list[int | None]
    end: int

    def line(self, offset: int) -> int | None:
        """The line of the instruction at byte ``offset``; None: no location, or not covered."""
        unit = offset // 2
        if not 0 <= unit < self.end:
            return None
        return self.lines[bisect_right(self.starts, unit) - 1]


def decode_lines(linetable: bytes, firstlineno: int, until: int | None = None) -> LineTable:
    """The location table of 3.11-3.13, decoded up to its end or its first malformed entry
    (or, given ``until``, the entry covering that code unit: a single lookup stops there).

    Each entry: a byte ``1 code:4 length-1:3`` covering ``length`` code units,
    then by code: 0-9 one column byte (same line), 10-12 two bytes (line +
    code-10), 13 a signed varint line delta, 14 a signed varint line delta and
    three varints (end line, columns), 15 no location.  CPython's
    Objects/locations.md describes it.
    """
    starts: list[int] = []
    lines: list[int | None] = []
    line, unit, i = firstlineno, 0, 0
    try:
        while i < len(linetable):
            head = linetable[i]
            if not head & 0x80:
                break
            code, length = (head >> 3) & 15, (head & 7) + 1
            i += 1
            delta = 0
            if code == 14:
                delta, i = _svarint(linetable, i)
                for _ in range(3):
                    _, i = _varint(linetable, i)
            elif code == 13:
                delta, i = _svarint(linetable, i)
            elif code >= 10 and code != 15:
                delta, i = code - 10, i + 2
            elif code < 10:
                i += 1
            line += delta
            starts.append(unit)
            lines.append(None if code == 15 else line)
            unit += length
            if until is not None and unit > until:
                break
    except IndexError:
        pass
    return LineTable(starts, lines, unit)


def line_of(linetable: bytes, firstlineno: int, offset: int) -> int | None:
    """The source line of the instruction at byte ``offset`` (see :func:`decode_lines`).
    ``None``: no location, or a table that does not cover the offset."""
    return decode_lines(linetable, firstlineno, offset // 2).line(offset)


#: qualified name, file name, first line and location table of one code object
CodeInfo = tuple[str | None, str | None, int, bytes]


class CodeReader:
    """Reads code objects from one address space, each once."""

    def __init__(self, space: AddressSpace) -> None:
        self.space = space
        self._types: dict[int, bool] = {}
        self._code: dict[int, CodeInfo | None] = {}
        self._asked: set[int] = set()  # code objects asked for one line so far
        self._lines: dict[int, LineTable] = {}  # ... and those asked for more, decoded

    def frame(self, word: int, offset: int) -> PyFrame:
        code, minor = word & ADDRESS_MASK, (word >> 48) & 0xFF
        info = self._code_info(code, minor)
        if info is None:
            return PyFrame(code, offset, minor)
        name, file, first, table = info
        return PyFrame(code, offset, minor, name, file, self._line(code, table, first, offset))

    def _line(self, code: int, table: bytes, first: int, offset: int) -> int | None:
        """The first lookup in a code object decodes its table up to the offset; a second
        one decodes it whole, once (a module's table is long; most code objects are
        asked for one or two offsets)."""
        decoded = self._lines.get(code)
        if decoded is None:
            if code not in self._asked:
                self._asked.add(code)
                return line_of(table, first, offset)
            decoded = self._lines[code] = decode_lines(table, first)
        return decoded.line(offset)

    def _code_info(self, code: int, minor: int) -> CodeInfo | None:
        if code not in self._code:
            layout = CODE_LAYOUTS.get(minor)
            self._code[code] = None if layout is None else self._read_code(code, layout)
        return self._code[code]

    def _read_code(self, code: int, L: CodeLayout) -> CodeInfo | None:
        s = self.space
        refcnt, typ = s.word(code + OB_REFCNT), s.word(code + OB_TYPE)
        if refcnt is None or not 0 < refcnt < MAX_REFCNT:
            return None  # freed: its fields may point at objects now reused
        if typ is None or not self._is_code_type(typ, L):
            return None
        try:
            first = int.from_bytes(s.read(code + L.firstlineno, 4), s.byteorder, signed=True)
        except MemlensError:
            return None
        table_obj = s.word(code + L.linetable)
        table = self._bytes(table_obj) if table_obj else None
        name = self._str(s.word(code + L.qualname), L)
        file = self._str(s.word(code + L.filename), L)
        return name, file, first, table or b""

    def _is_code_type(self, typ: int, L: CodeLayout) -> bool:
        """The type is named ``code``; where its name is not saved (a gdb core
        leaves out libpython's read-only data), its object and item sizes are
        those of a code object."""
        if typ not in self._types:
            s = self.space
            name_ptr = s.word(typ + TP_NAME)
            try:
                ok = name_ptr is not None and s.cstring(name_ptr, 8, pad=False) == b"code"
            except MemlensError:
                ok = (s.word(typ + TP_BASICSIZE), s.word(typ + TP_ITEMSIZE)) == (
                    L.code, CODE_ITEMSIZE,
                )  # fmt: skip
            self._types[typ] = ok
        return self._types[typ]

    def _bytes(self, obj: int) -> bytes | None:
        size = self.space.word(obj + VAR_SIZE)
        if size is None or size > MAX_LINETABLE:
            return None
        try:
            return self.space.read(obj + BYTES_DATA, size)
        except MemlensError:
            return None

    def _str(self, obj: int | None, L: CodeLayout) -> str | None:
        """A compact ``str`` object's text (the only kind code objects hold)."""
        if not obj:
            return None
        s = self.space
        try:
            length = s.u64(obj + STR_LENGTH)
            state = s.u32(obj + STR_STATE)
            kind, compact, ascii = (state >> 2) & 7, (state >> 5) & 1, (state >> 6) & 1
            if not compact or kind not in (1, 2, 4) or length > MAX_TEXT:
                return None
            data = s.read(obj + (L.ascii_data if ascii else L.compact_data), length * kind)
        except MemlensError:
            return None
        codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        if s.byteorder != "little" and kind > 1:
            codec = codec.replace("-le", "-be")
        return data.decode(codec, errors="replace")


def resolve(space: AddressSpace, stacks: Iterable[Sequence[int]]) -> list[list[object]]:
    """Every distinct Python frame of ``stacks``, named from ``space``, as JSON-ready rows
    ``[tag word, offset, function, file, line]`` (kept with a profile: a saved
    snapshot is named without the process)."""
    reader = CodeReader(space)
    seen: dict[tuple[int, int], PyFrame] = {}
    for stack in stacks:
        for entry in split_stack(stack):
            if isinstance(entry, tuple) and entry not in seen:
                seen[entry] = reader.frame(*entry)
    return [[w, off, f.function, f.file, f.line] for (w, off), f in sorted(seen.items())]


def table_from_rows(rows: object) -> dict[tuple[int, int], PyFrame]:
    """The rows :func:`resolve` made (maybe from a file: malformed rows are skipped)."""
    out: dict[tuple[int, int], PyFrame] = {}
    if not isinstance(rows, list):
        return out
    for row in rows:
        if not (isinstance(row, list) and len(row) == 5):
            continue
        w, off, name, file, line = row
        if not (isinstance(w, int) and isinstance(off, int)):
            continue
        out[(w, off)] = PyFrame(
            w & ADDRESS_MASK, off, (w >> 48) & 0xFF,
            name if isinstance(name, str) else None,
            file if isinstance(file, str) else None,
            line if isinstance(line, int) and not isinstance(line, bool) else None,
        )  # fmt: skip
    return out

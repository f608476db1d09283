"""Breakpad text symbol files (``.sym``) and symbol stores of them.

A ``.sym`` file describes one module, addresses relative to its base::

    MODULE os arch debug_id name
    INFO CODE_ID code_id
    FILE number path
    INLINE_ORIGIN id name
    FUNC [m] address size parameter_size name
    address size line file_number             (line records of the FUNC above)
    INLINE depth call_line call_file origin_id address size [address size...]
    PUBLIC [m] address parameter_size name
    STACK WIN type rva code_size prologue epilogue params saved_regs locals
              max_stack has_program_string program_string|allocates_base_pointer
    STACK CFI INIT address size rules          (then STACK CFI address rules)

A store is a folder ``NAME/DEBUG_ID/NAME.sym`` where NAME is the module's
debug file (``test_app.pdb``) or file name (``libc.so.6``), with ``.pdb``
replaced by ``.sym`` for the file itself.

:class:`BreakpadSymbols` answers the same questions as the other symbol
sources: ``lookup(addresses) -> (positions, offsets)`` and ``names_at`` over
module-relative addresses (the :class:`~memlens.symbols.symtable.SymbolTable`
shape), plus ``locate`` (function, file:line, inline chain) and the unwind
records ``stack_win`` / ``stack_cfi`` for the stack walker.  To hook it into
the symbolizer chain, a ``"breakpad"`` source would call
:meth:`SymbolStore.find` with the module's debug file and debug id and use
``lookup`` / ``locate`` with ``address - module.base``.

Malformed lines are skipped and counted (``bad_lines``); numbers are checked
and nothing is sized by what a line claims.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
#: a nested STACK WIN / INLINE search looks this many records back at most
_NEST_LIMIT = 64


@dataclass(frozen=True, slots=True)
class Line:
    address: int
    size: int
    line: int
    file: int


@dataclass(frozen=True, slots=True)
class Inline:
    depth: int
    call_line: int
    call_file: int
    origin: int
    ranges: tuple[tuple[int, int], ...]


@dataclass(slots=True)
class Function:
    address: int
    size: int
    parameter_size: int
    name: str
    lines: list[Line] = field(default_factory=list)
    inlines: list[Inline] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StackWin:
    """One ``STACK WIN`` record (Windows FPO / frame data)."""

    type: int  # 0 FPO, 4 FRAME_DATA...
    rva: int
    code_size: int
    prologue_size: int
    epilogue_size: int
    parameter_size: int
    saved_register_size: int
    local_size: int
    max_stack_size: int
    program: str | None  # the program string, when has_program_string
    allocates_base_pointer: bool


#: an inlined call: (inlined function, file of the call site, line of the call site)
InlineCall = tuple[str, str | None, int | None]


@dataclass(frozen=True, slots=True)
class Location:
    """What a module-relative address is: function, file:line, inlined calls."""

    function: str | None
    function_base: int | None
    parameter_size: int | None
    file: str | None = None
    line: int | None = None
    line_base: int | None = None
    #: inlined frames, innermost first: (function, file, line) of the inlined call site
    inlines: tuple[InlineCall, ...] = ()


def _hex(text: str) -> int:
    value = int(text, 16)
    if value < 0:
        raise ValueError(text)
    return value


class BreakpadSymbols:
    """One parsed ``.sym`` file."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.os = self.arch = self.debug_id = self.name = ""
        self.code_id: str | None = None
        self.files: dict[int, str] = {}
        self.origins: dict[int, str] = {}
        self.functions: list[Function] = []
        self.publics: list[tuple[int, int, str]] = []
        self.stack_wins: dict[int, list[StackWin]] = {}
        self._cfi_init: list[tuple[int, int, str, list[tuple[int, str]]]] = []
        self.bad_lines = 0
        self._parse(text)
        self.functions.sort(key=lambda f: f.address)
        self.publics.sort()
        for records in self.stack_wins.values():
            records.sort(key=lambda r: (r.rva, -r.code_size))
        self._cfi_init.sort(key=lambda c: c[0])
        self._func_starts = [f.address for f in self.functions]
        self._public_starts = [p[0] for p in self.publics]
        self._arrays: tuple[U64, U64, U64] | None = None
        self._win_starts = {t: [r.rva for r in rs] for t, rs in self.stack_wins.items()}
        self._cfi_starts = [c[0] for c in self._cfi_init]

    # -- parsing -----------------------------------------------------------------------

    def _parse(self, text: str) -> None:
        func: Function | None = None
        cfi: list[tuple[int, str]] | None = None
        for raw in text.splitlines():
            try:
                func, cfi = self._line(raw, func, cfi)
            except (ValueError, IndexError):
                self.bad_lines += 1

    def _line(self, raw: str, func: Function | None, cfi: list[tuple[int, str]] | None
              ) -> tuple[Function | None, list[tuple[int, str]] | None]:  # fmt: skip
        head = raw.split(" ", 1)[0]
        handler = _KEYWORDS.get(head)
        if handler is not None:
            return handler(self, raw, func, cfi)
        if not raw.strip():
            return func, cfi
        # a line record of the FUNC above: address size line file
        if func is None:
            raise ValueError("line record outside a FUNC")
        a, s, n, f = raw.split()
        func.lines.append(Line(_hex(a), _hex(s), int(n), int(f)))
        return func, cfi

    def _module(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        _, self.os, self.arch, self.debug_id, self.name = raw.split(" ", 4)
        return None, None

    def _info(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        parts = raw.split()
        if len(parts) >= 3 and parts[1] == "CODE_ID":
            self.code_id = parts[2]
        return func, cfi

    def _file(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        _, number, path = raw.split(" ", 2)
        self.files[int(number)] = path
        return func, cfi

    def _origin(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        _, rest = raw.split(" ", 1)
        number, name = rest.split(" ", 1)
        # old files write "INLINE_ORIGIN id file name"; the name then follows a number
        first, _, tail = name.partition(" ")
        if tail and first.isdigit():
            name = tail
        self.origins[int(number)] = name
        return func, cfi

    def _func(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        parts = raw.split(" ", 4)
        if parts[1] == "m":
            parts = [parts[0], *raw.split(" ", 5)[2:]]
        addr, size, params, name = parts[1], parts[2], parts[3], parts[4]
        new = Function(_hex(addr), _hex(size), _hex(params), name)
        self.functions.append(new)
        return new, None

    def _inline(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        if func is None:
            raise ValueError("INLINE outside a FUNC")
        parts = raw.split()
        depth, call_line, call_file, origin = (int(p) for p in parts[1:5])
        nums = [_hex(p) for p in parts[5:]]
        if not nums or len(nums) % 2:
            raise ValueError("INLINE ranges")
        ranges = tuple(zip(nums[0::2], nums[1::2], strict=True))
        func.inlines.append(Inline(depth, call_line, call_file, origin, ranges))
        return func, cfi

    def _public(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        parts = raw.split(" ", 3)
        if parts[1] == "m":
            parts = [parts[0], *raw.split(" ", 4)[2:]]
        self.publics.append((_hex(parts[1]), _hex(parts[2]), parts[3]))
        return None, None

    def _stack(self, raw: str, func: Function | None, cfi: _Cfi) -> _State:
        parts = raw.split(" ", 2)
        if parts[1] == "WIN":
            self._stack_win(parts[2])
            return None, None
        if parts[1] != "CFI":
            raise ValueError("unknown STACK record")
        rest = parts[2]
        if rest.startswith("INIT "):
            _, addr, size, rules = rest.split(" ", 3)
            deltas: list[tuple[int, str]] = []
            self._cfi_init.append((_hex(addr), _hex(size), rules, deltas))
            return None, deltas
        if cfi is None:
            raise ValueError("STACK CFI without INIT")
        addr, rules = rest.split(" ", 1)
        cfi.append((_hex(addr), rules))
        return None, cfi

    def _stack_win(self, rest: str) -> None:
        parts = rest.split(" ", 10)
        nums = [_hex(p) for p in parts[:9]]
        has_program = parts[9] != "0"
        tail = parts[10] if len(parts) > 10 else ""
        record = StackWin(nums[0], nums[1], nums[2], nums[3], nums[4], nums[5], nums[6],
                          nums[7], nums[8], tail if has_program else None,
                          not has_program and tail.strip() not in ("", "0"))  # fmt: skip
        self.stack_wins.setdefault(record.type, []).append(record)

    # -- lookups (module-relative addresses) ---------------------------------------------

    def _function_index(self, address: int) -> int:
        i = bisect.bisect_right(self._func_starts, address) - 1
        if i >= 0:
            f = self.functions[i]
            if f.address <= address < f.address + max(f.size, 1):
                return i
        return -1

    def function_at(self, address: int) -> Function | None:
        i = self._function_index(address)
        return self.functions[i] if i >= 0 else None

    def _public_index(self, address: int) -> int:
        return bisect.bisect_right(self._public_starts, address) - 1

    def public_at(self, address: int) -> tuple[int, int, str] | None:
        """The nearest PUBLIC at or below ``address`` (Breakpad: when no FUNC is closer)."""
        i = self._public_index(address)
        return self.publics[i] if i >= 0 else None

    def locate(self, address: int) -> Location:
        func = self.function_at(address)
        public = self.public_at(address)
        if func is None or (public is not None and public[0] > func.address):
            if public is None:
                return Location(None, None, None)
            return Location(public[2], public[0], public[1])
        line = _line_at(func.lines, address)
        file = self.files.get(line.file) if line is not None else None
        inlines = self._inlines(func, address)
        return Location(func.name, func.address, func.parameter_size, file,
                        line.line if line else None, line.address if line else None,
                        inlines)  # fmt: skip

    def _inlines(self, func: Function, address: int) -> tuple[InlineCall, ...]:
        """Inlined calls covering ``address``, innermost first: (origin name, call file,
        call line) -- the call line belongs to the frame that made the call."""
        hits = [i for i in func.inlines if any(a <= address < a + s for a, s in i.ranges)]
        hits.sort(key=lambda i: -i.depth)
        return tuple((self.origins.get(i.origin, "?"), self.files.get(i.call_file), i.call_line)
                     for i in hits)  # fmt: skip

    def lookup(self, addresses: npt.NDArray[np.uint64]) -> tuple[I64, I64]:
        """SymbolTable shape: per address the index of its function (-1: none) and the
        offset into it.  Indexes below ``len(functions)`` are FUNCs, the rest PUBLICs."""
        a = np.asarray(addresses, np.uint64)
        starts, ends, pub = self._lookup_arrays()
        fi = np.searchsorted(starts, a, side="right") - 1
        fc = np.maximum(fi, 0)
        in_func = (fi >= 0) & (a < ends[fc]) if len(starts) else np.zeros(len(a), bool)
        pi = np.searchsorted(pub, a, side="right") - 1
        pc = np.maximum(pi, 0)
        func_at = starts[fc] if len(starts) else np.zeros(len(a), np.uint64)
        pub_at = pub[pc] if len(pub) else np.zeros(len(a), np.uint64)
        # a FUNC wins unless a PUBLIC closer below the address starts after it
        use_func = in_func & ((pi < 0) | (pub_at <= func_at))
        use_pub = ~use_func & (pi >= 0)
        pos = np.where(use_func, fi, np.where(use_pub, len(self.functions) + pi, -1))
        zero = np.uint64(0)
        off = np.where(use_func, a - np.minimum(func_at, a),
                       np.where(use_pub, a - np.minimum(pub_at, a), zero))  # fmt: skip
        return pos.astype(np.int64), off.astype(np.int64)

    def _lookup_arrays(self) -> tuple[U64, U64, U64]:
        """FUNC starts and ends (a size of 0 counts as 1) and PUBLIC starts, as arrays."""
        if self._arrays is None:
            starts = np.array(self._func_starts, np.uint64)
            sizes = np.array([max(f.size, 1) for f in self.functions], np.uint64)
            self._arrays = (starts, starts + sizes, np.array(self._public_starts, np.uint64))
        return self._arrays

    def names_at(self, positions: npt.NDArray[np.int64],
                 demangle: Callable[[str], str] | None = None) -> list[str]:  # fmt: skip
        n = len(self.functions)
        names = [self.functions[p].name if p < n else self.publics[p - n][2]
                 for p in positions.tolist()]  # fmt: skip
        return [demangle(x) for x in names] if demangle else names

    def stack_win(self, address: int) -> StackWin | None:
        """The innermost STACK WIN record covering ``address``: FRAME_DATA (4) first, then
        FPO (0), as Breakpad looks them up."""
        for kind in (4, 0):
            records = self.stack_wins.get(kind)
            if not records:
                continue
            starts = self._win_starts[kind]
            i = bisect.bisect_right(starts, address) - 1
            for j in range(i, max(i - _NEST_LIMIT, -1), -1):
                r = records[j]
                if r.rva <= address < r.rva + r.code_size:
                    return r
        return None

    def stack_cfi(self, address: int) -> dict[str, str] | None:
        """The CFI rules in force at ``address``: ``{register: postfix expression}``, with
        ``.cfa`` and ``.ra``; later delta records override earlier ones."""
        i = bisect.bisect_right(self._cfi_starts, address) - 1
        if i < 0:
            return None
        start, size, init, deltas = self._cfi_init[i]
        if not start <= address < start + size:
            return None
        rules = parse_cfi_rules(init)
        for at, text in deltas:
            if at > address:
                break
            rules.update(parse_cfi_rules(text))
        return rules


_State = tuple[Function | None, list[tuple[int, str]] | None]
_Cfi = list[tuple[int, str]] | None

_KEYWORDS: dict[str, Callable[[BreakpadSymbols, str, Function | None, _Cfi], _State]] = {
    "MODULE": BreakpadSymbols._module, "INFO": BreakpadSymbols._info,
    "FILE": BreakpadSymbols._file, "INLINE_ORIGIN": BreakpadSymbols._origin,
    "FUNC": BreakpadSymbols._func, "INLINE": BreakpadSymbols._inline,
    "PUBLIC": BreakpadSymbols._public, "STACK": BreakpadSymbols._stack,
}  # fmt: skip


def _line_at(lines: Sequence[Line], address: int) -> Line | None:
    for ln in lines:  # a FUNC's lines are few; files list them in address order
        if ln.address <= address < ln.address + ln.size:
            return ln
    return None


def parse_cfi_rules(text: str) -> dict[str, str]:
    """``.cfa: $rsp 8 + .ra: .cfa -8 ^`` -> ``{".cfa": "$rsp 8 +", ".ra": ".cfa -8 ^"}``."""
    out: dict[str, str] = {}
    name: str | None = None
    expr: list[str] = []
    for token in text.split():
        if token.endswith(":") and len(token) > 1:
            if name is not None:
                out[name] = " ".join(expr)
            name, expr = token[:-1], []
        else:
            expr.append(token)
    if name is not None:
        out[name] = " ".join(expr)
    return out


def load(path: str, limit: int = 1 << 30) -> BreakpadSymbols:
    """Parse the ``.sym`` file at ``path``.

    Raises:
        FormatError: unreadable, larger than ``limit`` bytes, or not a ``.sym`` file.
    """
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise FormatError(path, None, f"symbol file of {size} bytes is over the limit")
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    if not text.startswith("MODULE "):
        raise FormatError(path, 0, "not a Breakpad symbol file (no MODULE line)")
    return BreakpadSymbols(path, text)


class SymbolStore:
    """A folder of ``.sym`` files laid out ``NAME/DEBUG_ID/NAME.sym``; files load once."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.roots = list(roots)
        self._cache: dict[tuple[str, str], BreakpadSymbols | None] = {}
        self.problems: list[str] = []

    def find(self, debug_file: str, debug_id: str) -> BreakpadSymbols | None:
        """The symbols of the module with this debug file name and debug id, if stored."""
        name = debug_file.replace("\\", "/").rsplit("/", 1)[-1]
        key = (name, debug_id.upper())
        if key in self._cache:
            return self._cache[key]
        found = None
        sym_name = name[:-4] + ".sym" if name.lower().endswith(".pdb") else name + ".sym"
        for root in self.roots:
            folder = os.path.join(root, name, key[1])
            for candidate in (os.path.join(folder, sym_name), *_other_syms(folder, sym_name)):
                if os.path.isfile(candidate):
                    try:
                        found = load(candidate)
                    except FormatError as e:
                        self.problems.append(str(e))
                    if found is not None and found.bad_lines:
                        self.problems.append(f"{candidate}: {found.bad_lines} malformed lines "
                                             "skipped")  # fmt: skip
                    break
            if found is not None:
                break
        self._cache[key] = found
        return found


def _other_syms(folder: str, preferred: str) -> list[str]:
    """Other ``.sym`` files of a store folder (``NAME.new.sym``...), in name order."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.endswith(".sym") and n != preferred]

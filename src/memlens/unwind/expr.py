"""The two expression languages of unwind data.

* Breakpad postfix (``STACK CFI`` rules and ``STACK WIN`` program strings):
  tokens separated by spaces; numbers (decimal, ``0x`` hex, negative), names
  (``$rsp``, ``.cfa``, ``.raSearchStart``, ``$T0``), binary ``+ - * / % @``
  (``@`` aligns down), unary ``^`` (dereference a word), and ``=`` (assign the
  value to the name below it, program strings only).
* DWARF expressions (``DW_CFA_def_cfa_expression``, ``DW_CFA_expression``):
  a stack machine over bytes (DWARF 5 §2.5), of which the operations CFI uses.

Both are bounded: a program runs at most :data:`MAX_STEPS` operations and its
stack holds at most :data:`MAX_STACK` values; a read of memory that is not
saved, a division by zero or a malformed program raises :class:`ExprError`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from memlens.unwind.leb128 import Leb128Error, read_leb128

MAX_STEPS = 10_000
MAX_STACK = 1024


class ExprError(Exception):
    """An expression that cannot be evaluated (malformed, or reads unavailable memory)."""


ReadWord = Callable[[int], int | None]


def _binary(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op in ("/", "%"):
        if b == 0:
            raise ExprError("division by zero")
        return int(a / b) if op == "/" else a - b * int(a / b)
    if op == "@":  # align a down to a multiple of b (a power of two)
        if b <= 0 or b & (b - 1):
            raise ExprError(f"alignment {b}")
        return a & ~(b - 1)
    raise ExprError(f"operator {op}")


_BINARY = frozenset("+-*/%@")


def postfix(program: str, variables: dict[str, int], read: ReadWord, mask: int,
            assign: bool = False) -> int | None:  # fmt: skip
    """Evaluate a Breakpad postfix expression or program string.

    With ``assign`` (program strings) ``name value =`` stores into
    ``variables`` and the result is ``None``; otherwise the one value left on
    the stack is returned.

    Raises:
        ExprError: malformed, an unknown name, or an unreadable dereference.
    """
    stack: list[int | str] = []
    tokens = program.split()
    if len(tokens) > MAX_STEPS:
        raise ExprError("program too long")
    for token in tokens:
        if token in _BINARY:
            if len(stack) < 2:
                raise ExprError(f"{token} needs two operands")
            b, a = _value(stack.pop(), variables), _value(stack.pop(), variables)
            stack.append(_binary(token, a, b) & mask)
        elif token == "^":
            if not stack:
                raise ExprError("^ needs an operand")
            got = read(_value(stack.pop(), variables))
            if got is None:
                raise ExprError("dereference of memory that is not available")
            stack.append(got)
        elif token == "=" and assign:
            if len(stack) < 2:
                raise ExprError("= needs a name and a value")
            value, name = stack.pop(), stack.pop()
            if not isinstance(name, str):
                raise ExprError("= needs a name")
            variables[name] = _value(value, variables)
        else:
            stack.append(_literal(token))
        if len(stack) > MAX_STACK:
            raise ExprError("stack overflow")
    if assign:
        if stack:
            raise ExprError("values left over after the program")
        return None
    if len(stack) != 1:
        raise ExprError("the expression does not leave one value")
    return _value(stack[0], variables)


def _literal(token: str) -> int | str:
    if token[0] in "$." or token[0].isalpha():
        return token
    try:
        return int(token, 0) if not token.startswith("-") else -int(token[1:], 0)
    except ValueError:
        raise ExprError(f"bad token {token!r}") from None


def _value(item: int | str, variables: Mapping[str, int]) -> int:
    if isinstance(item, int):
        return item
    if item not in variables:
        raise ExprError(f"{item} is not known")
    return variables[item]


# -- DWARF expressions --------------------------------------------------------------------


def dwarf_expr(code: bytes, registers: Callable[[int], int | None], read: ReadWord,
               word: int, prefix: str, initial: int | None = None) -> int:  # fmt: skip
    """Evaluate a DWARF expression; ``initial`` is pushed first (the CFA, for
    ``DW_CFA_expression`` rules).

    Raises:
        ExprError: an unsupported or malformed operation, or unreadable memory.
    """
    mask = (1 << (8 * word)) - 1
    stack: list[int] = [] if initial is None else [initial]
    pos = 0
    steps = 0
    n = len(code)

    def leb(signed: bool) -> int:
        nonlocal pos
        try:
            value, pos = read_leb128(code, pos, n, signed)
        except Leb128Error as e:
            raise ExprError(f"{e} (the expression)") from None
        return value

    def fixed(fmt: str) -> int:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > n:
            raise ExprError("operand past the expression")
        value = struct.unpack_from(prefix + fmt, code, pos)[0]
        pos += size
        return int(value)

    def reg(number: int) -> int:
        value = registers(number)
        if value is None:
            raise ExprError(f"register {number} is not known")
        return value

    while pos < n:
        steps += 1
        if steps > MAX_STEPS or len(stack) > MAX_STACK:
            raise ExprError("expression too long")
        op = code[pos]
        pos += 1
        if 0x30 <= op <= 0x4F:  # lit0..31
            stack.append(op - 0x30)
        elif 0x70 <= op <= 0x8F:  # breg0..31
            stack.append((reg(op - 0x70) + leb(True)) & mask)
        elif 0x50 <= op <= 0x6F:  # reg0..31 (a location, used here as its value)
            stack.append(reg(op - 0x50))
        elif op in _CONSTS:
            stack.append(fixed(_CONSTS[op]) & mask)
        elif op == 0x10:
            stack.append(leb(False) & mask)
        elif op == 0x11:
            stack.append(leb(True) & mask)
        elif op == 0x92:  # bregx
            r = leb(False)
            stack.append((reg(r) + leb(True)) & mask)
        elif op == 0x23:  # plus_uconst
            _need(stack, 1)
            stack.append((stack.pop() + leb(False)) & mask)
        elif op in (0x06, 0x94):  # deref, deref_size
            _need(stack, 1)
            size = code[pos] if op == 0x94 and pos < n else word
            pos += op == 0x94
            got = read(stack.pop())
            if got is None:
                raise ExprError("dereference of memory that is not available")
            stack.append(got & ((1 << (8 * min(size, word))) - 1))
        elif op in _STACK_OPS:
            _STACK_OPS[op](stack)
        elif op in _ARITH:
            _need(stack, 2)
            b, a = stack.pop(), stack.pop()
            stack.append(_ARITH[op](a, b, word) & mask)
        elif op in (0x1F, 0x20, 0x19):  # neg, not, abs
            _need(stack, 1)
            a = _signed(stack.pop(), word)
            stack.append((-a if op == 0x1F else ~a if op == 0x20 else abs(a)) & mask)
        elif op == 0x2F:  # skip
            pos += _signed(fixed("H"), 2)
        elif op == 0x28:  # bra
            delta = _signed(fixed("H"), 2)
            _need(stack, 1)
            if stack.pop():
                pos += delta
        elif op == 0x96:  # nop
            pass
        else:
            raise ExprError(f"DWARF operation {op:#x} is not supported")
        if pos < 0 or pos > n:
            raise ExprError("branch outside the expression")
    if not stack:
        raise ExprError("the expression leaves no value")
    return stack[-1]


_CONSTS = {0x08: "B", 0x09: "b", 0x0A: "H", 0x0B: "h", 0x0C: "I", 0x0D: "i", 0x0E: "Q",
           0x0F: "q"}  # fmt: skip


def _need(stack: list[int], count: int) -> None:
    if len(stack) < count:
        raise ExprError("stack underflow")


def _signed(value: int, word: int) -> int:
    bits = 8 * word
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _pick(stack: list[int], index: int) -> None:
    _need(stack, index + 1)
    stack.append(stack[-1 - index])


def _swap(stack: list[int]) -> None:
    _need(stack, 2)
    stack[-1], stack[-2] = stack[-2], stack[-1]


def _rot(stack: list[int]) -> None:
    _need(stack, 3)
    stack[-1], stack[-2], stack[-3] = stack[-2], stack[-3], stack[-1]


def _drop(stack: list[int]) -> None:
    _need(stack, 1)
    stack.pop()


_STACK_OPS: dict[int, Callable[[list[int]], None]] = {
    0x12: lambda s: _pick(s, 0), 0x13: _drop, 0x14: lambda s: _pick(s, 1),
    0x16: _swap, 0x17: _rot,
}  # fmt: skip


def _div(a: int, b: int, word: int) -> int:
    sa, sb = _signed(a, word), _signed(b, word)
    if sb == 0:
        raise ExprError("division by zero")
    return int(sa / sb)


def _mod(a: int, b: int, word: int) -> int:
    if b == 0:
        raise ExprError("division by zero")
    return a % b


_ARITH: dict[int, Callable[[int, int, int], int]] = {
    0x1A: lambda a, b, w: a & b, 0x1B: _div, 0x1C: lambda a, b, w: a - b, 0x1D: _mod,
    0x1E: lambda a, b, w: a * b, 0x21: lambda a, b, w: a | b, 0x22: lambda a, b, w: a + b,
    0x24: lambda a, b, w: a << min(b, 127), 0x25: lambda a, b, w: a >> min(b, 127),
    0x26: lambda a, b, w: _signed(a, w) >> min(b, 127), 0x27: lambda a, b, w: a ^ b,
    0x29: lambda a, b, w: int(a == b), 0x2A: lambda a, b, w: int(_signed(a, w) >= _signed(b, w)),
    0x2B: lambda a, b, w: int(_signed(a, w) > _signed(b, w)),
    0x2C: lambda a, b, w: int(_signed(a, w) <= _signed(b, w)),
    0x2D: lambda a, b, w: int(_signed(a, w) < _signed(b, w)), 0x2E: lambda a, b, w: int(a != b),
}  # fmt: skip

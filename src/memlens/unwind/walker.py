"""Unwinding one thread: from the context's registers to the outermost frame.

For each frame the caller is found by the first method that works, in this
order (Breakpad's, which gdb and elfutils also follow for the CFI part):

1. Breakpad symbols of the module: ``STACK WIN`` (32-bit x86), then ``STACK CFI``;
2. DWARF CFI of the module's file (``.eh_frame``, ``.debug_frame``);
3. the frame pointer chain (``rbp``/``ebp``/``x29``);
4. stack scanning: the first word above the stack pointer that points into a
   module's code (and, when the module has symbols, into a function).

A caller must have a non-zero pc and a stack pointer above the callee's (the
stack grows down); CFI that marks the return address undefined (``_start``,
``clone``) ends the walk there.  The walk stops after :data:`MAX_FRAMES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from memlens.core.addrspace import AddressSpace
from memlens.core.module import Module
from memlens.errors import MemlensError
from memlens.unwind import x86win
from memlens.unwind.arch import UnwindArch
from memlens.unwind.dwarf_cfi import CfiError, Row, Rule
from memlens.unwind.expr import ExprError, dwarf_expr, postfix
from memlens.unwind.modules import UnwindModules
from memlens.unwind.stackframe import StackFrame, Trust

MAX_FRAMES = 1024
#: words scanned for a return address (Breakpad: 40; four times that from the context)
SCAN_WORDS = 40
CONTEXT_SCAN_WORDS = 160
#: bytes after the entry point taken as the entry function when no CFI bounds it
ENTRY_SPAN = 0x80


class EndOfStack(Exception):
    """CFI says this frame has no caller."""


@dataclass(slots=True)
class Walker:
    space: AddressSpace
    arch: UnwindArch
    modules: UnwindModules
    scan: bool = True
    #: the program's entry point (AT_ENTRY): the walk ends in the function there
    #: (``_start``), as gdb's and elfutils' do
    entry: int | None = None
    signal_frames: set[int] = field(default_factory=set)

    @property
    def mask(self) -> int:
        return (1 << (8 * max(self.arch.word, self.space.word_size))) - 1

    def read(self, address: int, size: int | None = None) -> int | None:
        size = size or self.arch.word
        if address < 0:
            return None
        try:
            raw = self.space.read(address & self.mask, size)
        except MemlensError:
            return None
        return int.from_bytes(raw, self.space.byteorder)

    # -- the walk ------------------------------------------------------------------------

    def walk(self, registers: dict[str, int], stack_end: int | None = None
             ) -> tuple[list[StackFrame], str | None]:  # fmt: skip
        """Every frame of one thread; the second item says why the walk stopped early."""
        a = self.arch
        regs = _canonical(registers, a)
        pc, sp = regs.get(a.pc), regs.get(a.sp)
        if pc is None:
            return [], "no program counter in the context"
        frames = [StackFrame(pc, sp, Trust.CONTEXT, regs)]
        stopped = None
        while len(frames) < MAX_FRAMES:
            last = frames[-1]
            if self._in_entry(last):
                break
            try:
                caller = self._caller(frames)
            except EndOfStack:
                break
            if caller is None:
                break
            if caller.pc == 0 or caller.sp is None or last.sp is None:
                break
            if caller.sp < last.sp or (caller.sp == last.sp and len(frames) > 1):
                stopped = f"frame {len(frames)}: the stack pointer does not grow"
                break
            if stack_end is not None and caller.sp > stack_end + 0x10000:
                break
            frames.append(caller)
        else:
            stopped = f"stopped after {MAX_FRAMES} frames"
        frames = [replace(f, signal_frame=True) if id(f) in self.signal_frames else f
                  for f in frames]  # fmt: skip
        self.signal_frames.clear()
        return frames, stopped

    def _in_entry(self, frame: StackFrame) -> bool:
        """Whether ``frame`` is in the entry function: the FDE covering the entry point,
        else the few bytes after it (``_start`` is short and often has no CFI)."""
        if self.entry is None or frame.trust == Trust.CONTEXT:
            return False
        pc = frame.lookup_pc
        module = self.modules.at(self.entry)
        if module is not None and module.load_bias is not None:
            for table in self.modules.cfi(module):
                span = table.span((self.entry - module.load_bias) & self.mask)
                if span is not None:
                    lo, hi = span
                    return lo <= pc - module.load_bias < hi
        return self.entry <= pc < self.entry + ENTRY_SPAN

    def _caller(self, frames: list[StackFrame]) -> StackFrame | None:
        last = frames[-1]
        module = self.modules.at(last.lookup_pc)
        if module is not None:
            found = self._by_breakpad(frames, module) or self._by_dwarf(last, module)
            if found is not None:
                return found
        found = self._by_frame_pointer(last)
        if found is not None:
            return found
        return self._by_scan(last, len(frames) == 1) if self.scan else None

    # -- Breakpad ------------------------------------------------------------------------

    def _by_breakpad(self, frames: list[StackFrame], module: Module) -> StackFrame | None:
        syms = self.modules.breakpad(module)
        if syms is None:
            return None
        last = frames[-1]
        rel = last.lookup_pc - module.base
        if self.arch.name == "i386":
            win = syms.stack_win(rel)
            if win is not None:
                found = x86win.caller(self, frames, win)
                if found is not None:
                    return found
        rules = syms.stack_cfi(rel)
        if rules is None or ".cfa" not in rules or ".ra" not in rules:
            return None
        variables = {f"${k}": v for k, v in last.registers.items()}
        variables.update(last.registers)
        try:
            cfa = postfix(rules[".cfa"], variables, self.read, self.mask)
            assert cfa is not None
            variables[".cfa"] = cfa
            ra = postfix(rules[".ra"], variables, self.read, self.mask)
            assert ra is not None
            regs = {n: last.registers[n] for n in self.arch.callee_saved if n in last.registers}
            for name, expr in rules.items():
                if not name.startswith("."):
                    value = postfix(expr, variables, self.read, self.mask)
                    assert value is not None
                    regs[name.lstrip("$")] = value
        except ExprError:
            return None
        regs[self.arch.pc], regs[self.arch.sp] = ra, cfa
        return StackFrame(ra, cfa, Trust.CFI, regs)

    # -- DWARF CFI -----------------------------------------------------------------------

    def _by_dwarf(self, last: StackFrame, module: Module) -> StackFrame | None:
        if module.load_bias is None:
            return None
        for table in self.modules.cfi(module):
            try:
                row = table.row((last.lookup_pc - module.load_bias) & self.mask)
            except CfiError:
                continue
            if row is not None:
                try:
                    found = self._apply(last, row)
                except ExprError:
                    return None
                if found is not None and row.signal_frame:
                    # ``last`` is a signal trampoline; its caller was interrupted, not
                    # calling: its pc is exact
                    self.signal_frames.add(id(last))
                    found = replace(found, exact=True)
                return found
        return None

    def _apply(self, last: StackFrame, row: Row) -> StackFrame | None:
        a = self.arch
        regs_in = last.registers

        def by_number(n: int) -> int | None:
            name = a.dwarf.get(n)
            return regs_in.get(name) if name else None

        if row.cfa_expression is not None:
            cfa = dwarf_expr(row.cfa_expression, by_number, self.read, a.word,
                             self._prefix())  # fmt: skip
        else:
            base = by_number(row.cfa_register)
            if base is None:
                return None
            cfa = (base + row.cfa_offset) & self.mask
        ra_rule = row.rules.get(row.ra_column)
        if ra_rule is not None and ra_rule[0] == "undefined":
            raise EndOfStack
        out: dict[str, int] = {}
        for number, name in a.dwarf.items():
            rule = row.rules.get(number)
            if rule is None:
                if name in a.callee_saved and name in regs_in:
                    out[name] = regs_in[name]
                elif number == row.ra_column and a.link_register == name and name in regs_in:
                    out[name] = regs_in[name]  # a leaf that never saved its link register
                continue
            value = self._rule(rule, cfa, by_number, regs_in, name)
            if value is not None:
                out[name] = value & self.mask
        ra_name = a.dwarf.get(row.ra_column)
        ra = out.get(ra_name) if ra_name else None
        if ra is None:
            return None
        if a.name == "aarch64":
            ra &= ~3  # pointer authentication may leave low bits set
        # The caller's sp is the CFA unless a rule restores it (s390x: CFA = sp + 160, and
        # the caller's r15 is reloaded from the register save area)
        sp = out[a.sp] if a.sp in out and _has_rule(row, a, a.sp) else cfa
        out[a.pc], out[a.sp] = ra, sp
        return StackFrame(ra, sp, Trust.CFI, out)

    def _rule(self, rule: Rule, cfa: int, by_number: Callable[[int], int | None],
              regs_in: dict[str, int], name: str) -> int | None:  # fmt: skip
        kind = rule[0]
        arg = rule[1] if len(rule) > 1 else 0
        if kind == "same":
            return regs_in.get(name)
        if isinstance(arg, bytes):  # expression, val_expression
            at = dwarf_expr(arg, by_number, self.read, self.arch.word, self._prefix(),
                            initial=cfa)  # fmt: skip
            return self.read(at) if kind == "expression" else at
        if kind == "offset":
            return self.read(cfa + arg)
        if kind == "val_offset":
            return cfa + arg
        if kind == "register":
            other = self.arch.dwarf.get(arg)
            return regs_in.get(other) if other else None
        return None

    def _prefix(self) -> str:
        return "<" if self.space.byteorder == "little" else ">"

    # -- frame pointers and scanning -----------------------------------------------------

    def _by_frame_pointer(self, last: StackFrame) -> StackFrame | None:
        a = self.arch
        if a.fp is None:
            return None
        fp, sp = last.registers.get(a.fp), last.sp
        if fp is None or sp is None or fp < sp or fp - sp > 1 << 24:
            return None
        slot = a.word
        caller_fp, ra = self.read(fp), self.read(fp + slot)
        if caller_fp is None or ra is None or ra == 0 or self.modules.at(ra) is None:
            return None
        # other registers are unknown after a frame-pointer step: not carried over
        regs = {a.pc: ra, a.sp: fp + 2 * slot, a.fp: caller_fp}
        return StackFrame(ra, fp + 2 * slot, Trust.FRAME_POINTER, regs)

    def _by_scan(self, last: StackFrame, first: bool) -> StackFrame | None:
        a = self.arch
        if last.sp is None:
            return None
        words = CONTEXT_SCAN_WORDS if first else SCAN_WORDS
        for i in range(words):
            at = last.sp + i * a.word
            value = self.read(at)
            if value is None:
                return None
            if self.looks_like_return(value):
                regs = {a.pc: value, a.sp: at + a.word}
                return StackFrame(value, at + a.word, Trust.SCAN, regs)
        return None

    def looks_like_return(self, value: int) -> bool:
        """Whether ``value`` can be a return address: inside a module (not its first
        byte), after a call instruction, and inside a function when the module has
        symbols or CFI."""
        module = self.modules.at(value)
        if module is None or value == module.base or not self._after_call(value):
            return False
        syms = self.modules.breakpad(module)
        if syms is not None:
            return syms.locate(value - 1 - module.base).function is not None
        if module.load_bias is not None:
            for table in self.modules.cfi(module):
                try:
                    if table.row((value - 1 - module.load_bias) & self.mask) is not None:
                        return True
                except CfiError:
                    continue
            return not self.modules.cfi(module)
        return True


    def _after_call(self, value: int) -> bool:
        """Whether the instruction before ``value`` is a call (when its bytes were saved):
        x86 ``call rel32`` and ``call r/m`` forms, arm64 ``bl`` / ``blr``."""
        if self.arch.name == "aarch64":
            word = self.read(value - 4, 4)
            return word is None or (word & 0xFC000000) == 0x94000000 or (
                word & 0xFFFFFC1F) == 0xD63F0000
        if self.arch.name not in ("x86_64", "x32", "i386"):
            return True
        try:
            code = self.space.read(value - 7, 7)
        except MemlensError:
            return True  # code not saved: nothing to check against
        return any(_X86_CALL[n](code[7 - n :]) for n in _X86_CALL)


#: bytes before a return address -> whether they end with a call of that length
_X86_CALL: dict[int, Callable[[bytes], bool]] = {
    5: lambda b: b[0] == 0xE8,  # call rel32
    2: lambda b: b[0] == 0xFF and (b[1] >> 3) & 7 == 2 and b[1] >> 6 in (0, 3),  # call reg/[reg]
    3: lambda b: b[0] == 0xFF and (b[1] >> 3) & 7 == 2 and b[1] >> 6 in (0, 1),  # disp8/SIB
    4: lambda b: b[0] == 0xFF and (b[1] >> 3) & 7 == 2 and b[1] >> 6 == 1,  # SIB + disp8
    6: lambda b: b[0] == 0xFF and (b[1] >> 3) & 7 == 2 and b[1] >> 6 in (0, 2),  # disp32
    7: lambda b: b[0] == 0xFF and (b[1] >> 3) & 7 == 2 and b[1] >> 6 == 2,  # SIB + disp32
}


def _has_rule(row: Row, arch: UnwindArch, name: str) -> bool:
    return any(n == name and num in row.rules for num, n in arch.dwarf.items())


def _canonical(registers: dict[str, int], arch: UnwindArch) -> dict[str, int]:
    """Register names as the walker uses them (a minidump's arm64 ``fp``/``lr`` are
    ``x29``/``x30``; its x86 ``eflags`` stays as is)."""
    out = dict(registers)
    if arch.name == "aarch64":
        if "fp" in out:
            out.setdefault("x29", out["fp"])
        if "lr" in out:
            out.setdefault("x30", out["lr"])
    return out

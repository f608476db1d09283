"""32-bit x86 callers from Breakpad ``STACK WIN`` records (Windows FPO and frame data).

A record's program string computes the caller's ``$eip``, ``$esp`` and
``$ebp`` (and any callee-saved register it restores) from the callee's
registers and a few values the walker supplies:

* ``.cbLocals``, ``.cbSavedRegs``, ``.cbParams``: the record's sizes;
* ``.cbCalleeParams``: the parameter size of the callee's own record;
* ``.raSearchStart`` / ``.raSearch``: where the return address should be,
  ``esp + .cbCalleeParams + .cbLocals + .cbSavedRegs``, moved up to three
  words when the stack was aligned, to the first word that looks like a return
  address (into a module's function).

A record without a program string (old FPO data) gets Breakpad's: the return
address at ``.raSearchStart``, ``$esp`` just above it, ``$ebp`` reloaded
from its save slot when the function allocates it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memlens.symbols.breakpad_sym import StackWin
from memlens.unwind.expr import ExprError, postfix
from memlens.unwind.stackframe import StackFrame, Trust

if TYPE_CHECKING:
    from memlens.unwind.walker import Walker

_FPO_WITH_EBP = ("$eip .raSearchStart ^ = $esp .raSearchStart 4 + = "
                 "$ebp $esp .cbCalleeParams + .cbSavedRegs + 8 - ^ =")  # fmt: skip
_FPO = "$eip .raSearchStart ^ = $esp .raSearchStart 4 + ="
_CALLEE_SAVED = ("ebx", "esi", "edi")


class _Recorded(dict[str, int]):
    """Variables that remember which names the program assigned."""

    def __init__(self, values: dict[str, int]) -> None:
        super().__init__(values)
        self.assigned: set[str] = set()

    def __setitem__(self, key: str, value: int) -> None:
        self.assigned.add(key)
        super().__setitem__(key, value)


def _win_info(w: Walker, frame: StackFrame) -> StackWin | None:
    module = w.modules.at(frame.lookup_pc)
    syms = w.modules.breakpad(module) if module is not None else None
    if module is None or syms is None:
        return None
    return syms.stack_win(frame.lookup_pc - module.base)


def _scan(w: Walker, start: int, words: int) -> tuple[int, int] | None:
    for i in range(words + 1):
        value = w.read(start + 4 * i, 4)
        if value is not None and w.looks_like_return(value):
            return start + 4 * i, value
    return None


def caller(w: Walker, frames: list[StackFrame], info: StackWin) -> StackFrame | None:
    """The caller of ``frames[-1]`` by its STACK WIN record, or ``None`` when it fails."""
    last = frames[-1]
    regs = last.registers
    esp, eip = regs.get("esp"), regs.get("eip")
    if esp is None or eip is None:
        return None
    callee = _win_info(w, frames[-2]) if len(frames) > 1 else None
    callee_params = callee.parameter_size if callee is not None else 0
    start = esp + callee_params + info.local_size + info.saved_register_size
    found = _scan(w, start, 3)
    if found is not None:
        at, value = found
        if (last.trust == Trust.CONTEXT and info.type == 0 and at == start
                and value == eip):  # fmt: skip
            # an FPO system call whose callee already returned: its own address is on top
            again = _scan(w, start + 4, 3)
            start = again[0] if again is not None else start + 4
        else:
            start = at
    variables = _Recorded({f"${k}": v for k, v in regs.items() if k in
                           ("eip", "esp", "ebp", *_CALLEE_SAVED)})  # fmt: skip
    variables.update({".cbCalleeParams": callee_params, ".cbSavedRegs": info.saved_register_size,
                      ".cbLocals": info.local_size, ".raSearchStart": start, ".raSearch": start,
                      ".cbParams": info.parameter_size})  # fmt: skip
    variables.assigned.clear()
    program = info.program
    if program is None:
        program = _FPO_WITH_EBP if info.allocates_base_pointer else _FPO
    try:
        postfix(program, variables, lambda a: w.read(a, 4), 0xFFFFFFFF, assign=True)
    except ExprError:
        return None
    if "$eip" not in variables.assigned or "$esp" not in variables.assigned:
        return None
    out = {"eip": variables["$eip"], "esp": variables["$esp"],
           "ebp": variables["$ebp"] if "$ebp" in variables else regs.get("ebp", 0)}  # fmt: skip
    for name in _CALLEE_SAVED:
        if f"${name}" in variables.assigned:
            out[name] = variables[f"${name}"]
    return StackFrame(out["eip"], out["esp"], Trust.CFI, out)

"""Register sets of NT_PRSTATUS ``pr_reg``, by architecture, as data.

Each :class:`RegSet` is the kernel's ``elf_gregset_t`` of one machine (the
``user_regs_struct`` / ``pt_regs`` copy ``elf_core_copy_regs`` writes): the
names in order, one struct code per register (most are a word, some are not:
s390 access registers are 32-bit, m68k packs 16-bit fields, x32 keeps the
64-bit x86_64 registers in a 32-bit core), and which ones are the program
counter, stack pointer and frame pointer.

``elf_prstatus`` itself differs too: ``pr_pid`` and ``pr_reg`` sit after
``pr_info`` (3 ints), ``pr_cursig`` (short), two signal masks (longs) and
four ``timeval``s (two longs each) -- so 24 / 72 on 32-bit machines, 32 / 112
on 64-bit ones, and 22 / 70 on m68k, whose ABI aligns ``long`` to 2 bytes.

Machines without a table get ``r0``, ``r1``... (raw words) so nothing is
invented.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegSet:
    """One machine's ``pr_reg``: names and struct codes in order, pc/sp/fp names."""

    names: tuple[str, ...]
    codes: str  # one struct code per name
    pc: str
    sp: str
    fp: str | None
    pid_at: int  # offset of pr_pid in elf_prstatus
    reg_at: int  # offset of pr_reg

    @property
    def size(self) -> int:
        return struct.calcsize("=" + self.codes)


def _same(names: list[str], code: str) -> tuple[tuple[str, ...], str]:
    return tuple(names), code * len(names)


_X86_64 = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
           "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
           "gs_base", "ds", "es", "fs", "gs"]  # fmt: skip
_I386 = ["ebx", "ecx", "edx", "esi", "edi", "ebp", "eax", "ds", "es", "fs", "gs", "orig_eax",
         "eip", "cs", "eflags", "esp", "ss"]  # fmt: skip
_AARCH64 = [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]
_ARM = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "cpsr", "orig_r0"]
#: powerpc pt_regs: gpr[32], nip, msr, orig_gpr3, ctr, link, xer, ccr, softe (mq on
#: 32-bit), trap, dar, dsisr, result; ELF_NGREG is 48, the rest is padding
_PPC_TAIL = ["nip", "msr", "orig_gpr3", "ctr", "lr", "xer", "cr"]
_PPC64 = [f"r{i}" for i in range(32)] + _PPC_TAIL + ["softe", "trap", "dar", "dsisr", "result"]
_PPC = [f"r{i}" for i in range(32)] + _PPC_TAIL + ["mq", "trap", "dar", "dsisr", "result"]
#: s390 s390_regs: psw {mask, addr}, gprs[16], acrs[16] (always 32-bit), orig_gpr2
_S390 = ["pswm", "pswa"] + [f"r{i}" for i in range(16)] + [f"a{i}" for i in range(16)] + [
    "orig_r2"]
#: mips elf_gregset_t: (32-bit only: 6 unused words,) r0..r31, lo, hi, cp0_epc,
#: cp0_badvaddr, cp0_status, cp0_cause
_MIPS_CORE = [f"r{i}" for i in range(32)] + ["lo", "hi", "pc", "badvaddr", "status", "cause"]
#: riscv user_regs_struct: pc, then x1..x31 by ABI name
_RISCV = ["pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1"] + [
    f"a{i}" for i in range(8)] + [f"s{i}" for i in range(2, 12)] + ["t3", "t4", "t5", "t6"]
_SPARC_WINDOW = ([f"g{i}" for i in range(8)] + [f"o{i}" for i in range(8)]
                 + [f"l{i}" for i in range(8)] + [f"i{i}" for i in range(8)])  # fmt: skip
#: m68k user_regs_struct: d1-d7, a0-a6, d0, usp, orig_d0, short stkadj, short sr,
#: long pc, short fmtvec, short fill
_M68K = ([f"d{i}" for i in range(1, 8)] + [f"a{i}" for i in range(7)]
         + ["d0", "a7", "orig_d0", "stkadj", "sr", "pc", "fmtvec", "fill"])  # fmt: skip
_M68K_CODES = "I" * 17 + "HHIHH"

_G32 = {"pid_at": 24, "reg_at": 72}
_G64 = {"pid_at": 32, "reg_at": 112}


def _set(names: list[str], code: str, pc: str, sp: str, fp: str | None,
         layout: dict[str, int]) -> RegSet:  # fmt: skip
    n, c = _same(names, code)
    return RegSet(n, c, pc, sp, fp, **layout)


#: memlens arch name -> its pr_reg
REGSETS: dict[str, RegSet] = {
    "x86_64": _set(_X86_64, "Q", "rip", "rsp", "rbp", _G64),
    # x32: an ILP32 core (ELFCLASS32) whose pr_reg is x86_64's, 64-bit registers
    "x32": _set(_X86_64, "Q", "rip", "rsp", "rbp", _G32),
    "i386": _set(_I386, "I", "eip", "esp", "ebp", _G32),
    "aarch64": _set(_AARCH64, "Q", "pc", "sp", "x29", _G64),
    "arm": _set(_ARM, "I", "pc", "sp", "r11", _G32),
    "ppc64": _set(_PPC64, "Q", "nip", "r1", "r31", _G64),
    "ppc": _set(_PPC, "I", "nip", "r1", "r31", _G32),
    "s390x": RegSet(tuple(_S390), "QQ" + "Q" * 16 + "I" * 16 + "Q", "pswa", "r15", "r11",
                    **_G64),
    "s390": _set(_S390, "I", "pswa", "r15", "r11", _G32),
    "mips": _set([f"pad{i}" for i in range(6)] + _MIPS_CORE, "I", "pc", "r29", "r30", _G32),
    "mips64": _set(_MIPS_CORE, "Q", "pc", "r29", "r30", _G64),
    "riscv64": _set(_RISCV, "Q", "pc", "sp", "s0", _G64),
    "riscv32": _set(_RISCV, "I", "pc", "sp", "s0", _G32),
    # sparc32 pt_regs: psr, pc, npc, y, then the 32 window registers of the frame
    "sparc": _set(["psr", "pc", "npc", "y", *_SPARC_WINDOW], "I", "pc", "o6", "i6", _G32),
    # sparc64: the window registers, then tstate, tpc, tnpc, y
    "sparc64": _set([*_SPARC_WINDOW, "tstate", "pc", "npc", "y"], "Q", "pc", "o6", "i6", _G64),
    "m68k": RegSet(tuple(_M68K), _M68K_CODES, "pc", "a7", "a6", pid_at=22, reg_at=70),
}

#: xtensa (ESP-IDF and Linux): xtensa_elf_gregset_t: 8 special registers, threadptr,
#: 55 reserved words, then the 64 address registers ar0-ar63 (a0-a15 = the current window)
_XTENSA = (
    ["pc", "ps", "lbeg", "lend", "lcount", "sar", "windowstart", "windowbase", "threadptr"]
    + [f"reserved{i}" for i in range(9, 64)]
    + [f"a{i}" for i in range(64)]
)
REGSETS["xtensa"] = _set(_XTENSA, "I", "pc", "a1", None, _G32)

#: arch name -> register names in pr_reg order (kept for callers that list them)
REGISTER_NAMES: dict[str, list[str]] = {k: list(v.names) for k, v in REGSETS.items()}


def regset(arch: str) -> RegSet | None:
    return REGSETS.get(arch)


def prstatus_offsets(arch: str, word: int) -> tuple[int, int]:
    """``(offset of pr_pid, offset of pr_reg)`` in this machine's ``elf_prstatus``."""
    known = REGSETS.get(arch)
    if known is not None:
        return known.pid_at, known.reg_at
    return (24, 72) if word == 4 else (32, 112)


def decode_registers(arch: str, raw: bytes, word: int, prefix: str) -> dict[str, int]:
    """``{name: value}`` of ``pr_reg`` (named when the arch is known, else raw words)."""
    known = REGSETS.get(arch)
    if known is not None and known.size <= len(raw):
        values = struct.unpack_from(prefix + known.codes, raw)
        return dict(zip(known.names, values, strict=True))
    count = len(raw) // word
    raw_values = struct.unpack_from(prefix + ("I" if word == 4 else "Q") * count, raw)
    return {f"r{i}": v for i, v in enumerate(raw_values)}

"""What the stack walker needs to know of each machine, as data."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class UnwindArch:
    """Register roles and DWARF register numbers of one machine.

    ``dwarf`` maps DWARF register numbers to memlens register names (the
    psABI's numbering); ``callee_saved`` are the registers a caller's frame
    inherits unchanged unless CFI says otherwise; ``shown`` is the order
    Breakpad prints the registers of a frame in.
    """

    name: str
    word: int
    pc: str
    sp: str
    fp: str | None
    ra_dwarf: int  # DWARF column of the return address
    dwarf: dict[int, str]
    callee_saved: tuple[str, ...]
    shown: tuple[str, ...]
    #: the return address is in a register (lr) at a call, not on the stack
    link_register: str | None = None
    #: bytes the caller's pc is below the return address when looking up its function
    min_instruction: int = 1


_X86_64_DWARF = {0: "rax", 1: "rdx", 2: "rcx", 3: "rbx", 4: "rsi", 5: "rdi", 6: "rbp", 7: "rsp",
                 **{i: f"r{i}" for i in range(8, 16)}, 16: "rip"}  # fmt: skip
_I386_DWARF = {0: "eax", 1: "ecx", 2: "edx", 3: "ebx", 4: "esp", 5: "ebp", 6: "esi", 7: "edi",
               8: "eip"}  # fmt: skip
_AARCH64_DWARF = {**{i: f"x{i}" for i in range(31)}, 31: "sp", 32: "pc"}

ARCHES: dict[str, UnwindArch] = {
    "x86_64": UnwindArch("x86_64", 8, "rip", "rsp", "rbp", 16, _X86_64_DWARF,
                         ("rbx", "rbp", "r12", "r13", "r14", "r15"),
                         ("rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9",
                          "r10", "r11", "r12", "r13", "r14", "r15", "rip")),
    "i386": UnwindArch("i386", 4, "eip", "esp", "ebp", 8, _I386_DWARF,
                       ("ebx", "esi", "edi", "ebp"),
                       ("eip", "esp", "ebp", "ebx", "esi", "edi", "eax", "ecx", "edx",
                        "efl")),
    "aarch64": UnwindArch("aarch64", 8, "pc", "sp", "x29", 30, _AARCH64_DWARF,
                          tuple(f"x{i}" for i in range(19, 30)),
                          (*(f"x{i}" for i in range(29)), "fp", "lr", "sp", "pc"),
                          link_register="x30", min_instruction=4),
}  # fmt: skip
_RISCV_NAMES = ["ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", *(f"a{i}" for i in range(8)),
                *(f"s{i}" for i in range(2, 12)), "t3", "t4", "t5", "t6"]  # fmt: skip
ARCHES.update({
    # ppc64 ELF ABI: DWARF 0-31 = r0-r31, 65 = lr (the return address column)
    "ppc64": UnwindArch("ppc64", 8, "nip", "r1", "r31", 65,
                        {**{i: f"r{i}" for i in range(32)}, 65: "lr"},
                        tuple(f"r{i}" for i in range(14, 32)), (), link_register="lr",
                        min_instruction=4),
    # s390x ELF ABI: DWARF 0-15 = r0-r15; r14 holds the return address, r15 is sp
    "s390x": UnwindArch("s390x", 8, "pswa", "r15", "r11", 14, {i: f"r{i}" for i in range(16)},
                        tuple(f"r{i}" for i in range(6, 16)), (), link_register="r14",
                        min_instruction=2),
    # ARM EABI: DWARF 0-15 = r0-r15 (13 sp, 14 lr, 15 pc)
    "arm": UnwindArch("arm", 4, "pc", "sp", "r11", 14,
                      {**{i: f"r{i}" for i in range(13)}, 13: "sp", 14: "lr", 15: "pc"},
                      ("r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"), (),
                      link_register="lr", min_instruction=2),
    # RISC-V psABI: DWARF 1-31 = x1-x31 (ra, sp, gp, tp, t0...)
    "riscv64": UnwindArch("riscv64", 8, "pc", "sp", "s0", 1,
                          {i + 1: n for i, n in enumerate(_RISCV_NAMES)},
                          ("sp", "s0", "s1", *(f"s{i}" for i in range(2, 12))), (),
                          link_register="ra", min_instruction=2),
})  # fmt: skip

# x32: ILP32 pointers, but x86_64's registers and 8-byte stack slots (call pushes 8)
ARCHES["x32"] = replace(ARCHES["x86_64"], name="x32")


def unwind_arch(name: str) -> UnwindArch | None:
    return ARCHES.get(name)

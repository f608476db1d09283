"""Register sets of NT_PRSTATUS ``pr_reg``, by architecture, as data.

The orders are the kernel's ``user_regs_struct`` / ``elf_gregset_t`` for each
machine.  Machines without a table get ``r0``, ``r1``... (raw words) so
nothing is invented.
"""

from __future__ import annotations

import struct

_X86_64 = [
    "r15",
    "r14",
    "r13",
    "r12",
    "rbp",
    "rbx",
    "r11",
    "r10",
    "r9",
    "r8",
    "rax",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "orig_rax",
    "rip",
    "cs",
    "eflags",
    "rsp",
    "ss",
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
]
_I386 = [
    "ebx",
    "ecx",
    "edx",
    "esi",
    "edi",
    "ebp",
    "eax",
    "ds",
    "es",
    "fs",
    "gs",
    "orig_eax",
    "eip",
    "cs",
    "eflags",
    "esp",
    "ss",
]
_AARCH64 = [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]
_ARM = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "cpsr", "orig_r0"]

#: Linux/ESP-IDF xtensa_elf_gregset_t: 8 special registers, threadptr, 55 reserved
#: words, then the 64 address registers ar0-ar63 (a0-a15 = the current window)
_XTENSA = (
    ["pc", "ps", "lbeg", "lend", "lcount", "sar", "windowstart", "windowbase", "threadptr"]
    + [f"reserved{i}" for i in range(9, 64)]
    + [f"a{i}" for i in range(64)]
)

#: arch name -> register names in pr_reg order
REGISTER_NAMES: dict[str, list[str]] = {
    "x86_64": _X86_64,
    "i386": _I386,
    "aarch64": _AARCH64,
    "arm": _ARM,
    "xtensa": _XTENSA,
}


def decode_registers(arch: str, raw: bytes, word: int, prefix: str) -> dict[str, int]:
    """``{name: value}`` for the words of ``raw`` (named when the arch is known)."""
    count = len(raw) // word
    values = struct.unpack_from(prefix + ("I" if word == 4 else "Q") * count, raw)
    names = REGISTER_NAMES.get(arch)
    if names is None or len(names) > count:
        return {f"r{i}": v for i, v in enumerate(values)}
    return dict(zip(names, values[: len(names)], strict=True))

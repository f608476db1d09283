"""Floating-point and vector registers of a core: NT_FPREGSET / NT_PRXFPREG, as data.

* x86_64 and x32 ``NT_FPREGSET`` (512 bytes) and i386 ``NT_PRXFPREG`` (owner LINUX):
  the FXSAVE area -- fcw u16 @0, fsw u16 @2, ftw, fop, ... mxcsr u32 @24 with
  mxcsr_mask u32 @28, st0-st7 in 16-byte slots from 32 (80 bits used), xmm0-15
  (xmm0-7 on i386) from 160.
* i386 ``NT_FPREGSET`` (108 bytes, ``user_i387_struct``): fctrl, fstat, ftag, fip,
  fcs, foo, fos (u32 each), then st0-st7 packed in 10 bytes each from 28.
* aarch64 ``NT_FPREGSET`` (528 bytes, ``user_fpsimd_state``): v0-v31 (16 bytes
  each), fpsr u32 @512, fpcr u32 @516.

Vector and x87 registers are little-endian integers of their full width (as
``eu-readelf -n`` prints them).
"""

from __future__ import annotations

import struct
from typing import Literal

NT_FPREGSET = 2
NT_PRXFPREG = 0x46E62B7F

#: (name, offset, size in bytes)
Layout = list[tuple[str, int, int]]


def _fxsave(xmm: int, mxcsr_size: int, control: bool = True) -> Layout:
    return ([("fcw", 0, 2), ("fsw", 2, 2)] * control + [("mxcsr", 24, mxcsr_size)]
            + [(f"st{i}", 32 + 16 * i, 10) for i in range(8)]
            + [(f"xmm{i}", 160 + 16 * i, 16) for i in range(xmm)])  # fmt: skip


#: (arch, owner, note type, desc size) -> layout
LAYOUTS: dict[tuple[str, str, int, int], Layout] = {
    ("x86_64", "CORE", NT_FPREGSET, 512): _fxsave(16, 8),
    ("x32", "CORE", NT_FPREGSET, 512): _fxsave(16, 8),
    # i386: fcw/fsw are NT_FPREGSET's fctrl/fstat already
    ("i386", "LINUX", NT_PRXFPREG, 512): _fxsave(8, 4, control=False),
    # fctrl / fstat are the low halves of their 32-bit slots (the high halves are unused)
    ("i386", "CORE", NT_FPREGSET, 108): [("fctrl", 0, 2), ("fstat", 4, 2)]
    + [(f"st{i}", 28 + 10 * i, 10) for i in range(8)],
    ("aarch64", "CORE", NT_FPREGSET, 528): [(f"v{i}", 16 * i, 16) for i in range(32)]
    + [("fpsr", 512, 4), ("fpcr", 516, 4)],
}


def decode_fp(arch: str, owner: str, note_type: int, desc: bytes | memoryview,
              prefix: str) -> dict[str, int] | None:  # fmt: skip
    """The registers of one FP note, or ``None`` when its layout is not known."""
    layout = LAYOUTS.get((arch, owner, note_type, len(desc)))
    if layout is None:
        return None
    order: Literal["little", "big"] = "little" if prefix == "<" else "big"
    raw = bytes(desc)
    out = {}
    for name, at, size in layout:
        if size in (2, 4, 8):
            out[name] = struct.unpack_from(prefix + {2: "H", 4: "I", 8: "Q"}[size], raw, at)[0]
        else:
            out[name] = int.from_bytes(raw[at : at + size], order)
    return out

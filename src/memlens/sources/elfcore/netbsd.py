"""NetBSD cores: the process note and one note per LWP (``sys/exec_elf.h``).

* owner ``NetBSD-CORE``, type 1 (``ELF_NOTE_NETBSD_CORE_PROCINFO``):
  ``struct netbsd_elfcore_procinfo`` -- int32 version, size, signo, sigcode; four
  128-bit signal sets (pending, mask, ignore, catch); int32 pid, ppid, pgrp, sid;
  uint32 ruid, euid, svuid, rgid, egid, svgid; int32 nlwps; char name[32]; and
  from version 2 int32 siglwp (the LWP the killing signal hit).
* owner ``NetBSD-CORE@<lwpid>``: that LWP's ``PT_GETREGS`` (type 33 on amd64 and
  i386: ``PT_FIRSTMACH + 1``) and ``PT_GETFPREGS`` notes; amd64's ``struct reg``
  is 26 u64 in ``_REG_*`` order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

OWNER = "NetBSD-CORE"
LWP_PREFIX = "NetBSD-CORE@"
NT_PROCINFO = 1
PT_GETREGS = 33

#: amd64 _REG_* order (sys/arch/amd64/include/mcontext.h)
_AMD64 = ("rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
          "rbp", "rbx", "rax", "gs", "fs", "es", "ds", "trapno", "err", "rip", "cs", "eflags",
          "rsp", "ss")  # fmt: skip
#: arch -> (register names, struct code per register)
REGS: dict[str, tuple[tuple[str, ...], str]] = {"x86_64": (_AMD64, "Q" * len(_AMD64))}

#: offsets in netbsd_elfcore_procinfo
_SIGNO, _SIGCODE, _PID, _NLWPS, _NAME, _SIGLWP = 8, 12, 80, 120, 124, 156


@dataclass(frozen=True, slots=True)
class ProcInfo:
    version: int
    signo: int
    sigcode: int
    pid: int
    ppid: int
    nlwps: int
    name: str
    siglwp: int | None


def parse_procinfo(desc: bytes | memoryview, prefix: str) -> ProcInfo | None:
    if len(desc) < _SIGLWP:
        return None
    version = struct.unpack_from(prefix + "i", desc, 0)[0]
    signo, sigcode = struct.unpack_from(prefix + "ii", desc, _SIGNO)
    pid, ppid = struct.unpack_from(prefix + "ii", desc, _PID)
    nlwps = struct.unpack_from(prefix + "i", desc, _NLWPS)[0]
    name = bytes(desc[_NAME : _NAME + 32]).split(b"\0", 1)[0].decode("utf-8", "replace")
    siglwp = None
    if version >= 2 and len(desc) >= _SIGLWP + 4:
        siglwp = struct.unpack_from(prefix + "i", desc, _SIGLWP)[0]
    return ProcInfo(version, signo, sigcode, pid, ppid, nlwps, name, siglwp)


def lwp_id(owner: str) -> int | None:
    """The LWP id of a ``NetBSD-CORE@<lwpid>`` note owner, else ``None``."""
    if not owner.startswith(LWP_PREFIX):
        return None
    tail = owner[len(LWP_PREFIX) :]
    return int(tail) if tail.isdigit() and len(tail) < 10 else None


def decode_regs(arch: str, desc: bytes | memoryview, prefix: str) -> dict[str, int]:
    known = REGS.get(arch)
    if known is None or len(desc) < struct.calcsize("=" + known[1]):
        return {}
    names, codes = known
    return dict(zip(names, struct.unpack_from(prefix + codes, desc), strict=True))

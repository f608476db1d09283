"""NetBSD cores: pid, LWPs, registers and the signal, from a core the independent writer
packs by ``sys/exec_elf.h`` (``struct netbsd_elfcore_procinfo``, version 2) and
amd64's ``struct reg`` (``_REG_*`` order)."""

from __future__ import annotations

import struct
from pathlib import Path

import memlens

from .corewriter import Core, NoteItem


def _procinfo(signo: int, code: int, pid: int, nlwps: int, name: bytes, siglwp: int) -> bytes:
    return (struct.pack("<iiii", 2, 160, signo, code) + bytes(64)
            + struct.pack("<iiii", pid, 1, pid, 1) + struct.pack("<6I", 1000, 1000, 1000,
                                                                 100, 100, 100)
            + struct.pack("<i32si", nlwps, name, siglwp))  # fmt: skip


def _reg(rip: int, rsp: int, rbp: int) -> bytes:
    regs = [0] * 26
    regs[12], regs[21], regs[24] = rbp, rip, rsp  # _REG_RBP, _REG_RIP, _REG_RSP
    return struct.pack("<26Q", *regs)


def test_netbsd_core(tmp_path: Path) -> None:
    core = Core(bits=64, machine=62)
    core.notes = [
        NoteItem(b"NetBSD-CORE", 1, _procinfo(11, 1, 4321, 2, b"crasher", 2)),
        NoteItem(b"NetBSD-CORE@1", 33, _reg(0x401000, 0x7F7FFFFFE000, 0x7F7FFFFFE010)),
        NoteItem(b"NetBSD-CORE@2", 33, _reg(0x402000, 0x7F7FFFFEE000, 0)),
    ]
    path = tmp_path / "netbsd.core"
    path.write_bytes(core.build())
    with memlens.open(str(path)) as snap:
        assert (snap.pid, snap.command_line) == (4321, "crasher")
        # LWP 2 took the signal: it is the crashed thread, listed first
        assert [(t.tid, t.crashed, t.pc, t.sp) for t in snap.threads] == [
            (2, True, 0x402000, 0x7F7FFFFEE000), (1, False, 0x401000, 0x7F7FFFFFE000)]
        assert snap.threads[1].fp == 0x7F7FFFFFE010
        assert snap.crash is not None
        assert (snap.crash.signal, snap.crash.code, snap.crash.thread_id) == (11, 1, 2)
        assert snap.crash.description == "SIGSEGV (SEGV_MAPERR)" and snap.crash.os == "netbsd"

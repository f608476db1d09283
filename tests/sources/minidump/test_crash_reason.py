"""Crash reasons of every platform a minidump comes from, as minidump_stackwalk names them.

The fixtures are checked against Breakpad's own ``minidump_stackwalk`` output; the
synthetic dumps (one per platform family) are written by the independent writer in
``synth.py`` with the numbers of Breakpad's ``minidump_exception_*.h`` headers and the
strings its processor prints for them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import memlens
from memlens.sources.options import OpenOptions

from .synth import Synth

WINDOWS, MACOS, IOS, LINUX, ANDROID = 2, 0x8101, 0x8102, 0x8201, 0x8203
X86, AMD64, ARM64 = 0, 9, 12


def test_minidump2_reason_and_address_as_stackwalk(fixtures_dir: Path) -> None:
    out = (fixtures_dir / "minidump" / "minidump2.stackwalk.out").read_text()
    reason = re.search(r"^Crash reason:\s+(\S+)$", out, re.M)
    address = re.search(r"^Crash address:\s+(0x[0-9a-f]+)$", out, re.M)
    params = re.findall(r"value: (0x[0-9a-f]+)", out)
    assert reason and address and params
    with memlens.open(str(fixtures_dir / "minidump" / "minidump2.dmp")) as snap:
        assert snap.crash is not None
        assert snap.crash.description == reason.group(1)  # EXCEPTION_ACCESS_VIOLATION_WRITE
        assert snap.crash.address == int(address.group(1), 16)  # 0x45
        assert snap.crash.parameters == tuple(int(p, 16) for p in params)
        assert snap.crash.os == "windows"


def test_crashpad_linux_sigill_has_its_code_and_address(fixtures_dir: Path) -> None:
    # `minidump --stream exception`: code 4 (SIGILL), flags 2 (ILL_ILLOPN), address 0x2161b6
    with memlens.open(str(fixtures_dir / "minidump" / "linux_inline.dmp")) as snap:
        assert snap.crash is not None
        assert (snap.crash.signal, snap.crash.code, snap.crash.address) == (4, 2, 0x2161B6)
        assert snap.crash.description == "SIGILL / ILL_ILLOPN"
        assert snap.crash.sender_pid is None and snap.crash.os == "linux"


# (platform, cpu, code, flags, exception_address, parameters) ->
#     (description, signal, crash address)
CASES = [
    # Windows: access violations take the data address from ExceptionInformation[1]
    ((WINDOWS, AMD64, 0xC0000005, 0, 0x7FF612341000, (0, 0x10)),
     ("EXCEPTION_ACCESS_VIOLATION_READ", None, 0x10)),
    ((WINDOWS, AMD64, 0xC0000005, 0, 0x7FF612341000, (8, 0x7FF612341000)),
     ("EXCEPTION_ACCESS_VIOLATION_EXEC", None, 0x7FF612341000)),
    ((WINDOWS, X86, 0xC0000006, 0, 0x401000, (1, 0x2000)),
     ("EXCEPTION_IN_PAGE_ERROR_WRITE", None, 0x2000)),
    ((WINDOWS, X86, 0xC0000409, 0, 0x401234, ()),
     ("EXCEPTION_STACK_BUFFER_OVERRUN", None, 0x401234)),
    ((WINDOWS, AMD64, 0xE06D7363, 1, 0x7FFA00001000, ()),
     ("EXCEPTION_CPP_EH", None, 0x7FFA00001000)),
    ((WINDOWS, AMD64, 0x0517A7ED, 0, 0x1000, ()), ("SIMULATED", None, 0x1000)),
    # Linux: signal / si_code, si_addr as the crash address
    ((LINUX, AMD64, 11, 1, 0x10, ()), ("SIGSEGV / SEGV_MAPERR", 11, 0x10)),
    ((LINUX, AMD64, 11, 2, 0x555500001000, ()), ("SIGSEGV / SEGV_ACCERR", 11, 0x555500001000)),
    ((ANDROID, ARM64, 7, 1, 0x1001, ()), ("SIGBUS / BUS_ADRALN", 7, 0x1001)),
    ((LINUX, AMD64, 8, 1, 0x401000, ()), ("SIGFPE / FPE_INTDIV", 8, 0x401000)),
    ((LINUX, AMD64, 0xFFFFFFFF, 0, 0, ()), ("DUMP_REQUESTED", None, 0)),
    # macOS / iOS: Mach exception type in the code, its code in the flags
    ((MACOS, AMD64, 1, 1, 0x8, ()), ("EXC_BAD_ACCESS / KERN_INVALID_ADDRESS", None, 0x8)),
    ((IOS, ARM64, 1, 2, 0x100000, ()),
     ("EXC_BAD_ACCESS / KERN_PROTECTION_FAILURE", None, 0x100000)),
    ((MACOS, AMD64, 2, 1, 0x1000, ()), ("EXC_BAD_INSTRUCTION / EXC_I386_INVOP", None, 0x1000)),
    ((MACOS, ARM64, 6, 1, 0x1000, ()), ("EXC_BREAKPOINT / EXC_ARM_BREAKPOINT", None, 0x1000)),
    ((MACOS, AMD64, 3, 1, 0x1000, ()), ("EXC_ARITHMETIC / EXC_I386_DIV", None, 0x1000)),
    ((MACOS, AMD64, 5, 0x10002, 0, ()), ("EXC_SOFTWARE / SIGABRT", None, 0)),
    ((MACOS, AMD64, 0x43507378, 0, 0, ()), ("SIMULATED", None, 0)),
    ((MACOS, ARM64, 0x43506E78, 0, 0, ()), ("Uncaught NSException", None, 0)),
]  # fmt: skip


Given = tuple[int, int, int, int, int, tuple[int, ...]]


@pytest.mark.parametrize(("given", "expected"), CASES, ids=[c[1][0] for c in CASES])
def test_reason_per_platform(tmp_path: Path, given: Given,
                             expected: tuple[str, int | None, int]) -> None:  # fmt: skip
    platform, cpu, code, flags, address, params = given
    s = Synth("<")
    s.system_info(arch=cpu, platform=platform)
    ctx = s.amd64_context(0x401000, 0x7FF000) if cpu != X86 else s.x86_context(0x401000, 0x7000)
    s.thread_list([(5, 0x7FF000, bytes(16), ctx)])
    s.exception(5, code, address, ctx, flags=flags, params=params)
    path = tmp_path / "x.dmp"
    path.write_bytes(s.build())
    with memlens.open(str(path), OpenOptions()) as snap:
        assert snap.crash is not None
        description, signal, crash_address = expected
        assert (snap.crash.description, snap.crash.signal, snap.crash.address) == (
            description, signal, crash_address)
        assert snap.crash.thread_id == 5 and snap.threads[0].crashed


def test_linux_kill_decodes_the_sender(tmp_path: Path) -> None:
    s = Synth("<")
    s.system_info(arch=AMD64, platform=LINUX)
    ctx = s.amd64_context(0x401000, 0x7FF000)
    s.thread_list([(5, 0x7FF000, bytes(16), ctx)])
    # SIGTERM from kill(2): si_code SI_USER (0), si_pid 4321, si_uid 1000
    s.exception(5, 15, (1000 << 32) | 4321, ctx, flags=0)
    path = tmp_path / "k.dmp"
    path.write_bytes(s.build())
    with memlens.open(str(path)) as snap:
        assert snap.crash is not None
        assert (snap.crash.description, snap.crash.sender_pid, snap.crash.sender_uid) == (
            "SIGTERM", 4321, 1000)


def test_module_code_ids_as_minidump_dump(fixtures_dir: Path) -> None:
    """Windows code ids (time stamp + size) equal Breakpad's `minidump_dump` output."""
    text = (fixtures_dir / "minidump" / "minidump2.dump.out").read_text()
    expected = re.findall(r'\(code_identifier\)\s+= "([0-9A-Fa-f]+)"', text)
    with memlens.open(str(fixtures_dir / "minidump" / "minidump2.dmp")) as snap:
        assert [m.code_id for m in snap.modules] == expected and len(expected) == 13


def test_mac_module_code_id_is_its_uuid(tmp_path: Path) -> None:
    s = Synth("<")
    s.system_info(arch=ARM64, platform=MACOS)
    d4 = bytes.fromhex("838ed98914e9b7ff")
    s.module_list([(0x100000000, 0x4000, "/usr/lib/dyld",
                    s.cv_rsds(0x5A9832E5, 0x2872, 0x41C1, d4, 0, "dyld"))])  # fmt: skip
    path = tmp_path / "m.dmp"
    path.write_bytes(s.build())
    with memlens.open(str(path)) as snap:
        (m,) = snap.modules
        assert m.code_id == "5A9832E5-2872-41C1-838E-D98914E9B7FF"
        assert m.debug_id == "5A9832E5287241C1838ED98914E9B7FF0"

"""Why a target stopped, as a crash dump records it -- and the OS tables that name it.

Three families of crash codes reach memlens:

* **POSIX signals** (Linux, Android, Solaris, Fuchsia; ELF cores and Breakpad /
  Crashpad minidumps): a signal number and its ``si_code``.  ``si_code > 0``
  means the kernel raised it for a fault and ``si_addr`` is the faulting
  address; ``si_code <= 0`` means another process sent it (``kill``,
  ``tgkill``...) and the same bytes hold the sender's pid and uid.
* **Windows exceptions**: an NTSTATUS code; for access violations and in-page
  errors ``ExceptionInformation[0]`` is the access kind (0 read, 1 write, 8
  execute) and ``[1]`` the data address.
* **Mach exceptions** (macOS, iOS): an exception type (``EXC_BAD_ACCESS``...)
  with a code (a ``kern_return_t`` for bad accesses, CPU-specific otherwise).

Crash reporters add their own codes: Breakpad's ``DUMP_REQUESTED``
(0xffffffff, a dump written on request, no crash) and Crashpad's simulated
crashes (``'CPsx'`` on macOS, 0x0517a7ed on Windows) and uncaught
``NSException`` (``'CPnx'``, a real crash).

Every name below is a table keyed by number; the reason strings follow
Breakpad's ``minidump_stackwalk`` (``SIGSEGV / SEGV_MAPERR``,
``EXCEPTION_ACCESS_VIOLATION_WRITE``, ``EXC_BAD_ACCESS / KERN_INVALID_ADDRESS``)
so that output can be compared line by line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CrashInfo:
    """Why the process stopped: signal or exception, and the faulting address.

    ``address`` is the crash address the dump records (the faulting data
    address for access violations and fault signals).  For a signal sent by
    a process, ``sender_pid`` / ``sender_uid`` say who sent it.  ``parameters``
    are Windows' ``ExceptionInformation`` words.
    """

    thread_id: int | None
    signal: int | None = None
    code: int | None = None
    address: int | None = None
    description: str | None = None
    os: str | None = None
    parameters: tuple[int, ...] = ()
    sender_pid: int | None = None
    sender_uid: int | None = None


# -- POSIX signals ---------------------------------------------------------------

#: Linux signal numbers (asm-generic/signal.h; x86, arm, riscv, s390, ppc share them)
SIGNAL_NAMES: dict[int, str] = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
    7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
    13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
    18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG",
    24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH",
    29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}  # fmt: skip

#: signals whose default action dumps core (signal(7)); a core made while the process
#: sat in any other signal (gdb gcore: SIGSTOP) is not a crash
CORE_SIGNALS = frozenset({3, 4, 5, 6, 7, 8, 11, 24, 25, 31})
#: signals whose siginfo carries a fault address when the kernel raised them (si_code > 0)
FAULT_SIGNALS = frozenset({4, 5, 7, 8, 11})

#: (signal, si_code) -> name, for kernel-raised signals (asm-generic/siginfo.h)
SI_CODES: dict[tuple[int, int], str] = {
    (11, 1): "SEGV_MAPERR", (11, 2): "SEGV_ACCERR", (11, 3): "SEGV_BNDERR",
    (11, 4): "SEGV_PKUERR", (11, 5): "SEGV_ACCADI", (11, 6): "SEGV_ADIDERR",
    (11, 7): "SEGV_ADIPERR", (11, 8): "SEGV_MTEAERR", (11, 9): "SEGV_MTESERR",
    (11, 10): "SEGV_CPERR",
    (7, 1): "BUS_ADRALN", (7, 2): "BUS_ADRERR", (7, 3): "BUS_OBJERR",
    (7, 4): "BUS_MCEERR_AR", (7, 5): "BUS_MCEERR_AO",
    (4, 1): "ILL_ILLOPC", (4, 2): "ILL_ILLOPN", (4, 3): "ILL_ILLADR", (4, 4): "ILL_ILLTRP",
    (4, 5): "ILL_PRVOPC", (4, 6): "ILL_PRVREG", (4, 7): "ILL_COPROC", (4, 8): "ILL_BADSTK",
    (4, 9): "ILL_BADIADDR",
    (8, 1): "FPE_INTDIV", (8, 2): "FPE_INTOVF", (8, 3): "FPE_FLTDIV", (8, 4): "FPE_FLTOVF",
    (8, 5): "FPE_FLTUND", (8, 6): "FPE_FLTRES", (8, 7): "FPE_FLTINV", (8, 8): "FPE_FLTSUB",
    (8, 14): "FPE_FLTUNK", (8, 15): "FPE_CONDTRAP",
    (5, 1): "TRAP_BRKPT", (5, 2): "TRAP_TRACE", (5, 3): "TRAP_BRANCH", (5, 4): "TRAP_HWBKPT",
    (5, 5): "TRAP_UNK", (5, 6): "TRAP_PERF",
    (31, 1): "SYS_SECCOMP",
}  # fmt: skip
#: si_code values any signal can have (sent by a process or by the kernel on its behalf)
SI_GENERIC: dict[int, str] = {
    0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
    -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL",
}  # fmt: skip

#: Breakpad's code for "a dump was requested, nothing crashed" (any POSIX platform)
DUMP_REQUESTED = 0xFFFFFFFF


def signal_name(signo: int) -> str:
    return SIGNAL_NAMES.get(signo, f"signal {signo}")


def si_code_name(signo: int, code: int) -> str | None:
    return SI_CODES.get((signo, code)) if 0 < code < 0x80 else SI_GENERIC.get(code)


def is_fault(signo: int, code: int | None) -> bool:
    """Whether ``si_addr`` holds a faulting address: a fault signal the kernel raised."""
    return signo in FAULT_SIGNALS and code is not None and 0 < code < 0x80


def describe_signal(signo: int, code: int | None) -> str:
    """``SIGSEGV (SEGV_MAPERR)``: the name with its ``si_code`` (memlens' own style)."""
    name = signal_name(signo)
    if code is None:
        return name
    detail = si_code_name(signo, code)
    return f"{name} ({detail})" if detail else f"{name} (code {code})"


def breakpad_signal_reason(signo: int, code: int) -> str:
    """The reason as ``minidump_stackwalk`` prints a POSIX signal: ``SIGSEGV / SEGV_MAPERR``.

    Breakpad appends the ``si_code`` name only for the fault signals, and only a
    fault code; ``DUMP_REQUESTED`` has its own name.
    """
    if signo == DUMP_REQUESTED:
        return "DUMP_REQUESTED"
    name = signal_name(signo)
    detail = SI_CODES.get((signo, code)) if signo in FAULT_SIGNALS else None
    return f"{name} / {detail}" if detail else name


# -- Windows ---------------------------------------------------------------------

#: NTSTATUS exception codes (ntstatus.h / winnt.h) -> name as Breakpad prints it
WINDOWS_EXCEPTIONS: dict[int, str] = {
    0x40010005: "DBG_CONTROL_C",
    0x40010008: "DBG_CONTROL_BREAK",
    0x4001000A: "DBG_PRINTEXCEPTION_WIDE_C",
    0x406D1388: "MS_VC_EXCEPTION_SET_THREAD_NAME",
    0x80000001: "EXCEPTION_GUARD_PAGE",
    0x80000002: "EXCEPTION_DATATYPE_MISALIGNMENT",
    0x80000003: "EXCEPTION_BREAKPOINT",
    0x80000004: "EXCEPTION_SINGLE_STEP",
    0xC0000005: "EXCEPTION_ACCESS_VIOLATION",
    0xC0000006: "EXCEPTION_IN_PAGE_ERROR",
    0xC0000008: "EXCEPTION_INVALID_HANDLE",
    0xC000001D: "EXCEPTION_ILLEGAL_INSTRUCTION",
    0xC0000025: "EXCEPTION_NONCONTINUABLE_EXCEPTION",
    0xC0000026: "EXCEPTION_INVALID_DISPOSITION",
    0xC000008C: "EXCEPTION_ARRAY_BOUNDS_EXCEEDED",
    0xC000008D: "EXCEPTION_FLT_DENORMAL_OPERAND",
    0xC000008E: "EXCEPTION_FLT_DIVIDE_BY_ZERO",
    0xC000008F: "EXCEPTION_FLT_INEXACT_RESULT",
    0xC0000090: "EXCEPTION_FLT_INVALID_OPERATION",
    0xC0000091: "EXCEPTION_FLT_OVERFLOW",
    0xC0000092: "EXCEPTION_FLT_STACK_CHECK",
    0xC0000093: "EXCEPTION_FLT_UNDERFLOW",
    0xC0000094: "EXCEPTION_INT_DIVIDE_BY_ZERO",
    0xC0000095: "EXCEPTION_INT_OVERFLOW",
    0xC0000096: "EXCEPTION_PRIV_INSTRUCTION",
    0xC00000FD: "EXCEPTION_STACK_OVERFLOW",
    0xC0000194: "EXCEPTION_POSSIBLE_DEADLOCK",
    0xC0000374: "EXCEPTION_HEAP_CORRUPTION",
    0xC0000409: "EXCEPTION_STACK_BUFFER_OVERRUN",
    0xC0000420: "EXCEPTION_ASSERTION_FAILURE",
    0xC0000602: "EXCEPTION_FAIL_FAST",
    0xE06D7363: "EXCEPTION_CPP_EH",  # 'msc': a C++ throw nobody caught
    0x0517A7ED: "SIMULATED",  # Crashpad's CrashpadClient::DumpWithoutCrash
    0xFFFFFFFF: "DUMP_REQUESTED",
}
#: codes whose ExceptionInformation is [access kind, data address]
WINDOWS_ACCESS_CODES = frozenset({0xC0000005, 0xC0000006})
#: ExceptionInformation[0] of an access violation -> suffix
ACCESS_KINDS: dict[int, str] = {0: "READ", 1: "WRITE", 8: "EXEC"}


def windows_reason(code: int, parameters: tuple[int, ...]) -> tuple[str, int | None]:
    """``(reason, data address or None)`` of a Windows exception."""
    name = WINDOWS_EXCEPTIONS.get(code, f"{code:#010x}")
    if code in WINDOWS_ACCESS_CODES and len(parameters) >= 2:
        kind = ACCESS_KINDS.get(parameters[0])
        return (f"{name}_{kind}" if kind else name), parameters[1]
    return name, None


# -- Mach (macOS, iOS) -----------------------------------------------------------

#: exception type (mach/exception_types.h) -> name; Crashpad's own codes included
MACH_EXCEPTIONS: dict[int, str] = {
    1: "EXC_BAD_ACCESS", 2: "EXC_BAD_INSTRUCTION", 3: "EXC_ARITHMETIC", 4: "EXC_EMULATION",
    5: "EXC_SOFTWARE", 6: "EXC_BREAKPOINT", 7: "EXC_SYSCALL", 8: "EXC_MACH_SYSCALL",
    9: "EXC_RPC_ALERT", 10: "EXC_CRASH", 11: "EXC_RESOURCE", 12: "EXC_GUARD",
    13: "EXC_CORPSE_NOTIFY",
    0x43507378: "SIMULATED",  # 'CPsx': Crashpad's CRASHPAD_SIMULATE_CRASH(), no fault
    0x43506E78: "Uncaught NSException",  # 'CPnx': a real crash from an Objective-C throw
}  # fmt: skip
#: EXC_BAD_ACCESS codes: kern_return_t (mach/kern_return.h) and the arm/ppc specific ones
MACH_BAD_ACCESS: dict[int, str] = {
    1: "KERN_INVALID_ADDRESS", 2: "KERN_PROTECTION_FAILURE", 8: "KERN_NO_ACCESS",
    9: "KERN_MEMORY_FAILURE", 10: "KERN_MEMORY_ERROR", 50: "KERN_CODESIGN_ERROR",
    0x101: "EXC_ARM_DA_ALIGN", 0x102: "EXC_ARM_DA_DEBUG", 0x103: "EXC_ARM_SP_ALIGN",
    0x104: "EXC_ARM_SWP", 0x105: "EXC_ARM_PAC_FAIL",
}  # fmt: skip
#: (exception type, code) -> name for the other types (x86 and arm codes; mach/*/exception.h)
MACH_CODES: dict[tuple[int, int], str] = {
    (2, 1): "EXC_I386_INVOP",
    (2, 10): "EXC_I386_INVTSSFLT", (2, 11): "EXC_I386_SEGNPFLT", (2, 12): "EXC_I386_STKFLT",
    (2, 13): "EXC_I386_GPFLT", (2, 17): "EXC_I386_ALIGNFLT",
    (3, 1): "EXC_I386_DIV", (3, 2): "EXC_I386_INTO", (3, 3): "EXC_I386_NOEXT",
    (3, 4): "EXC_I386_EXTOVR", (3, 5): "EXC_I386_EXTERR", (3, 6): "EXC_I386_EMERR",
    (3, 7): "EXC_I386_BOUND", (3, 8): "EXC_I386_SSEEXTERR",
    (5, 0x10000): "SIGSYS", (5, 0x10001): "SIGPIPE", (5, 0x10002): "SIGABRT",
    (5, 0xDEADC0DE): "UNCAUGHT_NS_EXCEPTION",
    (6, 1): "EXC_I386_SGL", (6, 2): "EXC_I386_BPT",
}  # fmt: skip
#: the same codes on arm64, where they differ
MACH_CODES_ARM: dict[tuple[int, int], str] = {
    (2, 1): "EXC_ARM_UNDEFINED", (6, 1): "EXC_ARM_BREAKPOINT",
}  # fmt: skip


def mach_reason(exception: int, code: int, arm: bool) -> str:
    """``EXC_BAD_ACCESS / KERN_INVALID_ADDRESS``: a Mach exception type with its code."""
    name = MACH_EXCEPTIONS.get(exception, f"{exception:#x}")
    if exception == 1:
        detail = MACH_BAD_ACCESS.get(code)
    else:
        detail = (MACH_CODES_ARM.get((exception, code)) if arm else None) or MACH_CODES.get(
            (exception, code))
    return f"{name} / {detail}" if detail else name

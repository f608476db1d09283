"""Numbers a minidump uses and their names: stream types, CPUs, platforms, exceptions
(Breakpad's `minidump_format.h` constants; the ids of modules are in core/ids.py)."""

from __future__ import annotations

#: stream type -> Breakpad's constant name (``minidump_format.h``)
STREAM_NAMES: dict[int, str] = {
    0: "MD_UNUSED_STREAM",
    1: "MD_RESERVED_STREAM_0",
    2: "MD_RESERVED_STREAM_1",
    3: "MD_THREAD_LIST_STREAM",
    4: "MD_MODULE_LIST_STREAM",
    5: "MD_MEMORY_LIST_STREAM",
    6: "MD_EXCEPTION_STREAM",
    7: "MD_SYSTEM_INFO_STREAM",
    8: "MD_THREAD_EX_LIST_STREAM",
    9: "MD_MEMORY_64_LIST_STREAM",
    10: "MD_COMMENT_STREAM_A",
    11: "MD_COMMENT_STREAM_W",
    12: "MD_HANDLE_DATA_STREAM",
    13: "MD_FUNCTION_TABLE_STREAM",
    14: "MD_UNLOADED_MODULE_LIST_STREAM",
    15: "MD_MISC_INFO_STREAM",
    16: "MD_MEMORY_INFO_LIST_STREAM",
    17: "MD_THREAD_INFO_LIST_STREAM",
    18: "MD_HANDLE_OPERATION_LIST_STREAM",
    19: "MD_TOKEN_STREAM",
    20: "MD_JAVASCRIPT_DATA_STREAM",
    21: "MD_SYSTEM_MEMORY_INFO_STREAM",
    22: "MD_PROCESS_VM_COUNTERS_STREAM",
    23: "MD_IPT_TRACE_STREAM",
    24: "MD_THREAD_NAME_LIST_STREAM",
    0x0000FFFF: "MD_LAST_RESERVED_STREAM",
    0x47670001: "MD_BREAKPAD_INFO_STREAM",
    0x47670002: "MD_ASSERTION_INFO_STREAM",
    0x47670003: "MD_LINUX_CPU_INFO",
    0x47670004: "MD_LINUX_PROC_STATUS",
    0x47670005: "MD_LINUX_LSB_RELEASE",
    0x47670006: "MD_LINUX_CMD_LINE",
    0x47670007: "MD_LINUX_ENVIRON",
    0x47670008: "MD_LINUX_AUXV",
    0x47670009: "MD_LINUX_MAPS",
    0x4767000A: "MD_LINUX_DSO_DEBUG",
    0x43500001: "MD_CRASHPAD_INFO_STREAM",
    0x4D7A0001: "MOZ_MACOS_CRASH_INFO_STREAM",
    0x4D7A0002: "MOZ_MACOS_BOOTARGS_STREAM",
    0x4D7A0003: "MOZ_LINUX_LIMITS",
    0x4D7A0004: "MOZ_SOFT_ERRORS",
}


def stream_name(stream_type: int) -> str:
    return STREAM_NAMES.get(stream_type, "unknown")


# SystemInfo.processor_architecture -> (Breakpad's short name, memlens Arch name, word size)
ARCHES: dict[int, tuple[str, str, int]] = {
    0: ("x86", "i386", 4),
    1: ("mips", "mips", 4),
    2: ("alpha", "alpha", 8),
    3: ("ppc", "ppc", 4),
    4: ("shx", "sh", 4),
    5: ("arm", "arm", 4),
    6: ("ia64", "ia64", 8),
    9: ("amd64", "x86_64", 8),
    10: ("x86", "i386", 4),  # X86_WIN64: a 32-bit process on 64-bit Windows
    12: ("arm64", "aarch64", 8),
    0x8001: ("sparc", "sparc", 4),
    0x8002: ("ppc64", "ppc64", 8),
    0x8003: ("arm64", "aarch64", 8),  # old Breakpad value
    0x8004: ("mips64", "mips64", 8),
    0x8005: ("riscv", "riscv32", 4),
    0x8006: ("riscv64", "riscv64", 8),
    0xFFFF: ("unknown", "unknown", 8),
}

# SystemInfo.platform_id -> Breakpad's short name
PLATFORMS: dict[int, str] = {
    0: "win32s",
    1: "win32_windows",
    2: "windows",
    3: "wince",
    0x8000: "unix",
    0x8101: "mac",
    0x8102: "ios",
    0x8201: "linux",
    0x8202: "solaris",
    0x8203: "android",
    0x8204: "ps3",
    0x8205: "nacl",
    0x8206: "fuchsia",
}

#: platforms whose Exception stream records a POSIX signal in exception_code
POSIX_PLATFORMS = frozenset({0x8000, 0x8101, 0x8102, 0x8201, 0x8202, 0x8203, 0x8206})

# MemoryInfoList state / type
MEM_COMMIT = 0x1000
MEM_RESERVE = 0x2000
MEM_FREE = 0x10000
MEM_IMAGE = 0x1000000
MEM_MAPPED = 0x40000

#: PAGE_* protection (low byte) -> (read, write, execute)
PROTECTIONS: dict[int, tuple[bool, bool, bool]] = {
    0x01: (False, False, False),  # PAGE_NOACCESS
    0x02: (True, False, False),  # PAGE_READONLY
    0x04: (True, True, False),  # PAGE_READWRITE
    0x08: (True, True, False),  # PAGE_WRITECOPY
    0x10: (False, False, True),  # PAGE_EXECUTE
    0x20: (True, False, True),  # PAGE_EXECUTE_READ
    0x40: (True, True, True),  # PAGE_EXECUTE_READWRITE
    0x80: (True, True, True),  # PAGE_EXECUTE_WRITECOPY
}

# CodeView signatures (as little-endian u32)
CV_SIGNATURE_RSDS = 0x53445352  # 'RSDS'
CV_SIGNATURE_NB10 = 0x3031424E  # 'NB10'
CV_SIGNATURE_ELF = 0x4270454C  # 'BpEL' (stored as the bytes "LEpB")

VS_FFI_SIGNATURE = 0xFEEF04BD

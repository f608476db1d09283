"""Crash signatures: what groups crashes of one cause across a fleet.

The signature joins the function names of the crashed thread's top frames with
`` | ``, as Socorro's signature generation does: frames of the allocator, of
abort and assertion machinery and of the runtime are skipped while they lead
(they say *how* the process died, not *where*), frames without a name become
``module@0xoffset`` (independent of where ASLR put the module), and the
signature ends at the first frame that is none of these, or after
:data:`MAX_FRAMES` frames.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memlens.symbols.frame import Frame

MAX_FRAMES = 4

#: frames that lead into a crash without being its cause: kept, and the signature goes on
_PREFIX = re.compile(
    r"^(?:__?)?(?:abort|raise|pthread_kill|__pthread_kill_implementation|__pthread_kill_internal"
    r"|gsignal|__assert_fail|__assert_fail_base|__libc_message|__fortify_fail|__stack_chk_fail"
    r"|malloc_printerr|_int_free|_int_malloc|free|malloc|calloc|realloc|cfree|operator new"
    r"|operator delete|std::terminate|__cxa_throw|__cxa_rethrow"
    r"|__gnu_cxx::__verbose_terminate_handler|std::__terminate|RaiseException|KiUserExceptionDispatcher|memcpy|memmove|memset|strlen"
    r"|__memcpy_\w+|__memmove_\w+|__memset_\w+|__strlen_\w+"
    r"|__kernel_vsyscall|__kernel_rt_sigreturn|__restore_rt|_dl_sysinfo_int80)(?:\(.*\))?$"
)
#: frames that say nothing at all: dropped from the signature
_IRRELEVANT = re.compile(r"^(?:_start|__libc_start_main|__libc_start_call_main|start_thread"
                         r"|clone3?|__clone3?|_dl_\w+|linux-vdso\.so\.1@0x[0-9a-f]+)$")  # fmt: skip


def frame_name(frame: Frame) -> str:
    """The name a frame has in a signature."""
    if frame.function:
        return frame.function
    if frame.module and frame.module_offset is not None:
        return f"{frame.module.rsplit('/', 1)[-1]}@{frame.module_offset:#x}"
    return f"@{frame.address:#x}"


def signature(frames: Sequence[Frame]) -> str:
    """The signature of a crashed thread's frames, innermost first (``""`` for none)."""
    parts: list[str] = []
    for frame in frames:
        name = frame_name(frame)
        if _IRRELEVANT.match(name):
            continue
        parts.append(name)
        if not _PREFIX.match(name) or len(parts) >= MAX_FRAMES:
            break
    return " | ".join(parts)

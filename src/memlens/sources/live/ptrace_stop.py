"""Stop a live process's threads briefly to read their registers; always resume them.

``PTRACE_SEIZE`` + ``PTRACE_INTERRUPT`` stop each thread without sending a
signal the program could see, and ``PTRACE_DETACH`` in ``finally`` resumes it
(also on errors and Ctrl-C).  Should memlens itself be killed, the kernel
detaches its tracees and they run on.  Registers come from
``PTRACE_GETREGSET(NT_PRSTATUS)``: the kernel's own ``elf_gregset_t`` bytes,
exactly what a core's NT_PRSTATUS ``pr_reg`` holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
from types import TracebackType
from typing import Any

PTRACE_DETACH = 17
PTRACE_GETREGSET = 0x4204
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
NT_PRSTATUS = 1
PTRACE_EVENT_STOP = 128
WALL = 0x40000000  # __WALL: wait for threads (clones) too
REGSET_MAX = 4096


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


@functools.cache
def _ptrace() -> Any:
    """libc's ``ptrace``, loaded at the first use (finding libc runs ``ldconfig -p``)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fn = libc.ptrace
    fn.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    return fn


def _call(request: int, tid: int, addr: int | None = None, data: object = None) -> None:
    if _ptrace()(request, tid, addr, data) == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class StoppedThreads:
    """Context manager: every thread of ``pid`` stopped inside, resumed on exit.

    Attributes:
        stopped: thread ids that were stopped.
        problem: why no thread could be stopped (``None`` when all went well).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.stopped: list[int] = []
        self.problem: str | None = None
        # Signals caught in a signal-delivery-stop, handed back on detach so none is lost.
        self._pending: dict[int, int] = {}

    def __enter__(self) -> StoppedThreads:
        try:
            tids = sorted(int(t) for t in os.listdir(f"/proc/{self.pid}/task"))
        except OSError as e:
            self.problem = f"cannot list threads: {e.strerror}"
            return self
        try:
            for tid in tids:
                try:
                    _call(PTRACE_SEIZE, tid, 0, None)
                except OSError as e:
                    self.problem = f"ptrace(PTRACE_SEIZE, {tid}): {e.strerror}"
                    continue
                self.stopped.append(tid)
                _call(PTRACE_INTERRUPT, tid, 0, None)
                _, status = os.waitpid(tid, WALL)
                if os.WIFSTOPPED(status) and status >> 16 != PTRACE_EVENT_STOP:
                    sig = os.WSTOPSIG(status)
                    if sig != 0:
                        self._pending[tid] = sig
        except BaseException:
            self._resume()
            raise
        return self

    def registers(self, tid: int) -> bytes | None:
        """The thread's NT_PRSTATUS register set, or ``None`` when it cannot be read."""
        if tid not in self.stopped:
            return None
        buf = ctypes.create_string_buffer(REGSET_MAX)
        iov = _IoVec(ctypes.cast(buf, ctypes.c_void_p), REGSET_MAX)
        try:
            _call(PTRACE_GETREGSET, tid, NT_PRSTATUS, ctypes.byref(iov))
        except OSError:
            return None
        return buf.raw[: iov.iov_len]

    def _resume(self) -> None:
        for tid in self.stopped:
            # A thread that exited meanwhile has nothing to resume.
            with contextlib.suppress(OSError):
                _call(PTRACE_DETACH, tid, 0, self._pending.pop(tid, 0) or None)
        self.stopped = []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._resume()

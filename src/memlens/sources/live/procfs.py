"""Reading one file of ``/proc/PID``, with each failure as a memlens error."""

from __future__ import annotations

from memlens.errors import MemlensError, ProcessGoneError, TargetError


def read_proc_text(pid: int, name: str) -> str:
    """The text of ``/proc/PID/NAME`` (bytes that are not UTF-8 kept as surrogates).

    Raises as :func:`read_proc_bytes`.
    """
    return read_proc_bytes(pid, name).decode("utf-8", "surrogateescape")


def read_proc_bytes(pid: int, name: str) -> bytes:
    """``/proc/PID/NAME`` in one read.

    Raises:
        ProcessGoneError: the process exited (before or while being read).
        TargetError: no permission, or the file does not exist on this kernel
            (before 4.14 there is no ``smaps_rollup``).
    """
    data = read_proc_bytes_unless_gone(pid, name)
    if data is None:
        raise ProcessGoneError(pid, "exited while being read")
    return data


def read_proc_bytes_unless_gone(pid: int, name: str) -> bytes | None:
    """``/proc/PID/NAME`` in one read, or None where :func:`read_proc_bytes` would raise
    ProcessGoneError for "no such process" (ESRCH: a task without memory -- a kernel
    thread, a zombie -- or one that exited while being read).

    ``memlens procs`` asks this of every kernel thread: no exception of memlens's own
    per task.  Other failures raise as :func:`read_proc_bytes`.
    """
    try:
        with open(f"/proc/{pid}/{name}", "rb", buffering=0) as f:
            return f.readall()
    except ProcessLookupError:
        return None
    except OSError as e:
        raise _failure(pid, name, e) from None


def _failure(pid: int, name: str, e: OSError) -> MemlensError:
    """The memlens error for ``e``, raised reading ``/proc/PID/NAME``."""
    if isinstance(e, FileNotFoundError):
        if not _exists(pid):
            return ProcessGoneError(pid, "no such process")
        return TargetError(pid, f"/proc/{pid}/{name} does not exist on this kernel")
    if isinstance(e, PermissionError):
        return TargetError(pid, f"no permission to read /proc/{pid}/{name}")
    return TargetError(pid, f"/proc/{pid}/{name}: {e.strerror}")


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb"):
            return True
    except OSError:
        return False

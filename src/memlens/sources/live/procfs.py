"""Reading one file of ``/proc/PID``, with each failure as a memlens error."""

from __future__ import annotations

from memlens.errors import ProcessGoneError, TargetError


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
    try:
        with open(f"/proc/{pid}/{name}", "rb", buffering=0) as f:
            return f.readall()
    except FileNotFoundError:
        if not _exists(pid):
            raise ProcessGoneError(pid, "no such process") from None
        raise TargetError(pid, f"/proc/{pid}/{name} does not exist on this kernel") from None
    except ProcessLookupError:
        raise ProcessGoneError(pid, "exited while being read") from None
    except PermissionError:
        raise TargetError(pid, f"no permission to read /proc/{pid}/{name}") from None
    except OSError as e:
        raise TargetError(pid, f"/proc/{pid}/{name}: {e.strerror}") from None


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb"):
            return True
    except OSError:
        return False

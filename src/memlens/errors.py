"""The memlens error hierarchy.

Every failure a user can cause (a bad file, an unmapped address, a process that
went away) is a :class:`MemlensError` carrying the data that explains it.  The
CLI prints ``str(error)`` as one line and exits non-zero; ``--debug`` shows the
traceback.  Third-party exceptions are wrapped into these at one point per
reader, never allowed to escape.
"""

from __future__ import annotations


class MemlensError(Exception):
    """Base of every error memlens raises on purpose."""

    #: process exit code the CLI uses for this kind of error
    exit_code: int = 1


class UsageError(MemlensError):
    """The command line or an argument value is wrong."""

    exit_code = 2


class FormatError(MemlensError):
    """A file is not in the format it claims, or is truncated or corrupt.

    Attributes:
        source: the file (or stream) being read.
        offset: byte offset in ``source`` where the problem is, when known.
        reason: what is wrong, in a few words.
    """

    def __init__(self, source: str, offset: int | None, reason: str) -> None:
        self.source = source
        self.offset = offset
        self.reason = reason
        where = f"{source}" if offset is None else f"{source} at offset {offset:#x}"
        super().__init__(f"{where}: {reason}")


class AddressError(MemlensError):
    """Bytes at an address are not available: unmapped, or mapped but not saved.

    Attributes:
        address: the first unavailable address.
        reason: ``"unmapped"``, ``"not saved"`` or another short explanation.
    """

    def __init__(self, address: int, reason: str = "unmapped", size: int | None = None) -> None:
        self.address = address
        self.reason = reason
        self.size = size
        span = f" ({size} bytes)" if size is not None else ""
        super().__init__(f"address {address:#x}{span}: {reason}")


class TargetError(MemlensError):
    """A live target cannot be opened or read (no such process, no permission, gone).

    Attributes:
        pid: the process id.
        reason: what went wrong.
    """

    def __init__(self, pid: int, reason: str) -> None:
        self.pid = pid
        self.reason = reason
        super().__init__(f"process {pid}: {reason}")


class ProcessGoneError(TargetError):
    """The process exited while memlens was reading it."""


class ToolMissingError(MemlensError):
    """An external program memlens needs for one feature is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        self.tool = tool
        self.hint = hint
        super().__init__(f"{tool} is not installed: {hint}")

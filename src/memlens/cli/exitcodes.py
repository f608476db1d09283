"""Process exit codes of the memlens command."""

from __future__ import annotations


class ExitCode:
    """The codes, as plain ints (an ``enum.IntEnum`` would import enum, functools and
    collections into ``memlens procs``, which needs none of them: ~2 ms of its start)."""

    OK = 0
    ERROR = 1  # a MemlensError: bad input, unreadable target
    USAGE = 2  # bad command line
    PARTIAL = 3  # output printed, but incomplete (e.g. the process exited mid-scan)
    INTERRUPTED = 130

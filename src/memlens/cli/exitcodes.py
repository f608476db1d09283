"""Process exit codes of the memlens command."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1  # a MemlensError: bad input, unreadable target
    USAGE = 2  # bad command line
    PARTIAL = 3  # output printed, but incomplete (e.g. the process exited mid-scan)
    INTERRUPTED = 130

"""Every process's memory use: RSS, PSS, USS, shared and swap (``memlens procs``).

From ``/proc/PID/smaps_rollup`` (Linux 4.14+; one small read per process, the
kernel's own sums) where it can be read; otherwise, as root, from the page
tables (pagemap and kpagecount, :func:`memlens.analyses.regions.usage_of_table`).
Processes that cannot be read keep the reason (another user's process without
CAP_SYS_PTRACE, one that exited mid-scan); kernel threads (and zombies) have no
memory -- their smaps_rollup is empty -- and are counted apart.
"""

from __future__ import annotations

import os
import pwd

from memlens.core.frozen import Frozen
from memlens.errors import MemlensError, ProcessGoneError
from memlens.sources.live.pid import process_alive
from memlens.sources.live.procfs import read_proc_bytes_unless_gone
from memlens.sources.live.smaps import Usage, parse_smaps

# plain classes, no dataclasses: `memlens procs` should take at most half of smem's
# time, and most of it is the kernel's smaps_rollup walks (see memlens/core/frozen.py)


class ProcRow(Frozen):
    __slots__ = ("pid", "user", "command", "usage", "source", "reason")  # noqa: RUF023 (order)
    pid: int
    user: str
    command: str
    usage: Usage | None  # None: not readable (see ``reason``)
    source: str  # "smaps_rollup", "pagemap" or "" when unreadable
    reason: str | None

    def __init__(self, pid: int, user: str, command: str, usage: Usage | None, source: str,
                 reason: str | None = None) -> None:  # fmt: skip
        values = (pid, user, command, usage, source, reason)
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)


class ProcTable:
    """Every process read (``rows``), and how many were kernel threads or exited meanwhile."""

    __slots__ = ("exited", "kernel_threads", "rows")

    def __init__(self) -> None:
        self.rows: list[ProcRow] = []
        self.kernel_threads = 0
        self.exited = 0

    @property
    def unreadable(self) -> list[ProcRow]:
        return [r for r in self.rows if r.usage is None]


def _text(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}", "rb", buffering=0) as f:  # one read, no buffer
        return f.readall().decode("utf-8", "replace")


def _user(uid: int, cache: dict[int, str]) -> str:
    if uid not in cache:
        try:
            cache[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            cache[uid] = str(uid)
    return cache[uid]


def _from_page_tables(pid: int) -> Usage | None:
    """Sum of every region's page-table usage (root: pagemap + kpagecount + kpageflags)."""
    from memlens.analyses.regions import usage_of_table
    from memlens.sources.live.process import open_process
    from memlens.sources.options import OpenOptions

    with open_process(pid, OpenOptions()) as snap:
        regions = list(snap.regions)
        total: dict[str, int] = {}
        for region, table in snap.iter_page_tables(regions):
            used = usage_of_table(table, region) if table is not None else None
            for k, v in (used.fields if used else {}).items():
                total[k] = total.get(k, 0) + v
    return Usage(total)


def process_table(pids: list[int] | None = None) -> ProcTable:
    """Memory use of ``pids`` (default: every process in /proc)."""
    if pids is None:
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    out = ProcTable()
    users: dict[int, str] = {}
    for pid in pids:
        # memory first: a kernel thread (no mm) is only counted, its owner and name unread
        found = _usage(pid)
        if found is None:
            out.exited += 1
            continue
        usage, source, reason = found
        if usage is not None and not usage.fields:
            out.kernel_threads += 1  # no mm (a kernel thread, a zombie): nothing to count
            continue
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except (FileNotFoundError, ProcessLookupError):
            out.exited += 1
            continue
        except OSError as e:
            out.rows.append(ProcRow(pid, "?", "?", None, "", f"/proc/{pid}: {e.strerror}"))
            continue
        try:
            command = _command(pid)
        except (FileNotFoundError, ProcessLookupError):
            out.exited += 1
            continue
        except OSError as e:
            command, reason = "?", reason or f"/proc/{pid}: {e.strerror}"
            usage, source = None, ""
        out.rows.append(ProcRow(pid, _user(uid, users), command, usage, source, reason))
    return out


def _command(pid: int) -> str:
    """The command line, or for a task without one the name in ``stat``, in brackets."""
    cmdline = _text(pid, "cmdline").rstrip("\0").replace("\0", " ")
    if cmdline:
        return cmdline
    stat = _text(pid, "stat")
    return "[" + stat[stat.find("(") + 1 : stat.rfind(")")] + "]"


def _usage(pid: int) -> tuple[Usage | None, str, str | None] | None:
    """(usage, its source, why it is unknown) of one process; None when it exited
    meanwhile.  A task without memory (kernel thread) gets an empty usage."""
    try:
        data = read_proc_bytes_unless_gone(pid, "smaps_rollup")
    except ProcessGoneError:
        # a kernel thread (no memory) reads as "no such process" too; a zombie has exited
        return (Usage(), "smaps_rollup", None) if process_alive(pid) else None
    except MemlensError as e:
        if "does not exist" not in str(e):
            return None, "", _reason(e)
        try:
            return _from_page_tables(pid), "pagemap", None
        except ProcessGoneError:
            return None
        except MemlensError as e2:
            return None, "", _reason(e2)
    if data is None:  # ESRCH, read_smaps's ProcessGoneError without the exception
        return (Usage(), "smaps_rollup", None) if process_alive(pid) else None
    rollup = parse_smaps(data)
    if not rollup:  # no mm: a kernel thread, or a process that has exited
        return (Usage(), "smaps_rollup", None) if process_alive(pid) else None
    return next(iter(rollup.values())), "smaps_rollup", None


def _reason(e: MemlensError) -> str:
    reason = getattr(e, "reason", None)
    return reason if isinstance(reason, str) else str(e)

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
from dataclasses import dataclass, field

from memlens.errors import MemlensError, ProcessGoneError
from memlens.sources.live.pagemap import process_alive
from memlens.sources.live.smaps import Usage, read_smaps


@dataclass(frozen=True, slots=True)
class ProcRow:
    pid: int
    user: str
    command: str
    usage: Usage | None  # None: not readable (see ``reason``)
    source: str  # "smaps_rollup", "pagemap" or "" when unreadable
    reason: str | None = None


@dataclass(slots=True)
class ProcTable:
    rows: list[ProcRow] = field(default_factory=list)
    kernel_threads: int = 0
    exited: int = 0

    @property
    def unreadable(self) -> list[ProcRow]:
        return [r for r in self.rows if r.usage is None]


def _text(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read().decode("utf-8", "replace")


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
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
            cmdline = _text(pid, "cmdline").rstrip("\0").replace("\0", " ")
            if not cmdline:  # kernel threads and zombies: their name, in brackets
                stat = _text(pid, "stat")
                cmdline = "[" + stat[stat.find("(") + 1 : stat.rfind(")")] + "]"
        except (FileNotFoundError, ProcessLookupError):
            out.exited += 1
            continue
        except OSError as e:
            out.rows.append(ProcRow(pid, "?", "?", None, "", f"/proc/{pid}: {e.strerror}"))
            continue
        row = _row(pid, _user(uid, users), cmdline)
        if row is None:
            out.exited += 1
        elif row.usage is not None and not row.usage.fields:
            out.kernel_threads += 1  # no mm (a kernel thread, a zombie): nothing to count
        else:
            out.rows.append(row)
    return out


def _row(pid: int, user: str, command: str) -> ProcRow | None:
    """One process's row; None when it exited meanwhile."""
    try:
        rollup = read_smaps(pid, "smaps_rollup")
    except ProcessGoneError:
        # a kernel thread (no memory) reads as "no such process" too; a zombie has exited
        if process_alive(pid):
            return ProcRow(pid, user, command, Usage(), "smaps_rollup")
        return None
    except MemlensError as e:
        if "does not exist" not in str(e):
            return ProcRow(pid, user, command, None, "", _reason(e))
        try:
            return ProcRow(pid, user, command, _from_page_tables(pid), "pagemap")
        except ProcessGoneError:
            return None
        except MemlensError as e2:
            return ProcRow(pid, user, command, None, "", _reason(e2))
    if not rollup:  # no mm: a kernel thread, or a process that has exited
        return ProcRow(pid, user, command, Usage(), "smaps_rollup") if process_alive(pid) else None
    return ProcRow(pid, user, command, next(iter(rollup.values())), "smaps_rollup")


def _reason(e: MemlensError) -> str:
    reason = getattr(e, "reason", None)
    return reason if isinstance(reason, str) else str(e)

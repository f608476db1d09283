"""``memlens procs``: every process with RSS, PSS, USS, shared and swap (smem, exact)."""

from __future__ import annotations

import sys

from memlens.analyses.procs import ProcRow, process_table
from memlens.cli.exitcodes import ExitCode
from memlens.render.table import Column, Table, is_terminal, print_table
from memlens.render.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:  # not at run time: collections.abc imports collections (~1 ms)
    import argparse
    from collections.abc import Callable

NAME = "procs"
HELP = "every process with RSS, PSS, USS, shared and swap (like smem, from smaps_rollup)"
DESCRIPTION = """\
One line per process: rss, pss (each page divided by its map count), uss
(Private_Clean + Private_Dirty: what exiting would free), shared (Shared_Clean +
Shared_Dirty), swap and swappss, from /proc/PID/smaps_rollup (the kernel's own
sums), or from pagemap and kpagecount where the kernel has no smaps_rollup.
Processes memlens may not read are listed with the reason; kernel threads have
no memory and are only counted.  Sizes are human-readable on a terminal and
bytes otherwise (--bytes forces bytes)."""

#: sort keys: value of a row (unreadable rows sort last)
KEYS = ("pss", "rss", "uss", "shared", "swap", "swappss", "pid", "command", "user")


EXAMPLES = (
    "memlens procs --sort uss --limit 10",
    "memlens procs --json",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pids", nargs="*", type=int, metavar="PID",
                        help="only these processes (default: all)")  # fmt: skip
    parser.add_argument("-s", "--sort", choices=KEYS, default="pss",
                        help="sort by this column (default pss, largest first)")  # fmt: skip
    parser.add_argument("-r", "--reverse", action="store_true", help="smallest first")
    parser.add_argument("-n", "--limit", type=int, metavar="N", help="only the first N rows")
    parser.add_argument("--bytes", action="store_true", help="sizes in bytes, also on a terminal")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def plain_args(words: list[str]) -> dict[str, object] | None:
    """The parser's values for ``procs [PID...]`` with no option, PIDs in ASCII digits
    (None for anything else): memlens/cli/main.py runs that command line without argparse."""
    if not all(w.isascii() and w.isdigit() for w in words):
        return None
    return {"pids": [int(w) for w in words], "sort": "pss", "reverse": False, "limit": None,
            "bytes": False, "json": False}  # fmt: skip


def _values(row: ProcRow) -> dict[str, int | None]:
    u = row.usage
    if u is None:
        return dict.fromkeys(("rss", "pss", "uss", "shared", "swap", "swappss"))
    return {"rss": u.fields.get("Rss"), "pss": u.fields.get("Pss"), "uss": u.uss,
            "shared": u.shared, "swap": u.fields.get("Swap"),
            "swappss": u.fields.get("SwapPss")}  # fmt: skip


def _key(key: str) -> Callable[[ProcRow], tuple[bool, int, str]]:
    """Largest first for sizes, ascending for pid/command/user; unreadable rows last."""

    def get(row: ProcRow) -> tuple[bool, int, str]:
        if key == "pid":
            return (False, row.pid, "")
        if key in ("command", "user"):
            return (False, 0, str(getattr(row, key)))
        value = _values(row)[key]
        return (value is None, -(value or 0), "")

    return get


def run(args: argparse.Namespace) -> int:
    table = process_table(args.pids or None)
    rows = sorted(table.rows, key=_key(args.sort))
    if args.reverse:
        readable = [r for r in rows if r.usage is not None][::-1]
        rows = readable + [r for r in rows if r.usage is None]
    if args.limit is not None:
        rows = rows[: args.limit]
    if args.json:
        from memlens.render import jsonout  # json: only for --json

        jsonout.dump("procs", {
            "processes": [{"pid": r.pid, "user": r.user, "command": r.command,
                           "source": r.source or None, "reason": r.reason, **_values(r),
                           "smaps_rollup": dict(r.usage.fields) if r.usage else None}
                          for r in rows],
            "kernel_threads": table.kernel_threads, "exited_during_scan": table.exited,
        }, plain=True)  # fmt: skip  (ints, strings and None: the standard library's json)
    else:
        size: Callable[[int], str] = (str if args.bytes or not is_terminal(sys.stdout)
                                      else human_size)  # fmt: skip
        _print(rows, size)
        _notes(table.kernel_threads, table.exited, [r for r in rows if r.usage is None])
    if args.pids and any(r.usage is None for r in table.rows):
        return ExitCode.PARTIAL
    if args.pids and table.exited:
        return ExitCode.PARTIAL
    return ExitCode.OK


def _print(rows: list[ProcRow], fmt: Callable[[int], str]) -> None:
    cols = ["rss", "pss", "uss", "shared", "swap", "swappss"]
    table = Table([Column("pid", "right"), Column("user"),
                   *[Column(c, "right") for c in cols], Column("command")])  # fmt: skip
    totals = dict.fromkeys(cols, 0)
    for r in rows:
        values = _values(r)
        cells = []
        for c in cols:
            value = values[c]
            cells.append("-" if value is None else fmt(value))
            totals[c] += value or 0
        table.add(str(r.pid), r.user, *cells, r.command[:200])
    readable = sum(r.usage is not None for r in rows)
    table.footer = ["total", f"{readable} read", *[fmt(totals[c]) for c in cols], ""]
    print_table(table)


def _notes(kernel_threads: int, exited: int, unreadable: list[ProcRow]) -> None:
    if unreadable:
        reasons: dict[str, int] = {}
        for r in unreadable:
            reasons[r.reason or "unknown"] = reasons.get(r.reason or "unknown", 0) + 1
        for reason, n in sorted(reasons.items()):
            print(f"note: {n} processes not read: {reason}")
    if kernel_threads:
        print(f"note: {kernel_threads} kernel threads (no memory of their own) not listed")
    if exited:
        print(f"note: {exited} processes exited during the scan")

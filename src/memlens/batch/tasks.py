"""One batch task: one input file analysed into table rows.

A task never raises for a bad input: whatever goes wrong becomes one ``errors``
row naming the file and the reason, and the rows already made for it are
dropped (a row is either complete or absent).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from memlens.batch import signature as sig
from memlens.batch.inputs import readable_path
from memlens.batch.tables import Rows, empty_rows
from memlens.errors import FormatError, MemlensError

if TYPE_CHECKING:
    from memlens.core.module import Module
    from memlens.core.snapshot import Snapshot
    from memlens.symbols.frame import Frame
    from memlens.unwind.stackframe import ThreadStack

#: the analyses ``memlens batch`` runs
ANALYSES = ("info", "stack", "heap", "leaks", "mpy")
#: a compressed input may decompress to at most this (memory of one worker)
MAX_DECOMPRESSED = 8 << 30
#: heap groups kept per input (the largest); the dump row has the exact totals
HEAP_GROUPS_KEPT = 200


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Settings every task of a batch shares."""

    #: Breakpad symbol stores (NAME/DEBUGID/NAME.sym) for stack walking and names
    symbol_dirs: tuple[str, ...] = ()


def analyse(path: str, analysis: str, key: str, options: TaskOptions | None = None) -> Rows:
    """The rows of one input; errors become an ``errors`` row, never an exception."""
    start = time.perf_counter()
    rows = empty_rows()
    try:
        with readable_path(path, MAX_DECOMPRESSED) as readable:
            _RUNNERS[analysis](readable, path, key, rows, options or TaskOptions())
    except (MemlensError, OSError, ValueError) as e:
        rows = empty_rows()
        rows["errors"].append({"key": key, "path": path, "analysis": analysis,
                               "reason": error_reason(e)})  # fmt: skip
        return rows
    for row in rows["dumps"]:
        row["seconds"] = time.perf_counter() - start
    return rows


def error_reason(error: Exception) -> str:
    """What went wrong, without the file's name (the row has the path), so that
    inputs failing for one reason group together."""
    if isinstance(error, FormatError):
        where = f"at offset {error.offset:#x}: " if error.offset is not None else ""
        return where + error.reason.splitlines()[0]
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    text = str(error).splitlines()[0] if str(error) else ""
    return text or type(error).__name__


def _open(readable: str) -> Snapshot:
    from memlens.targets import open_target

    return open_target(readable)


def _dump_row(snap: Snapshot, path: str, key: str, analysis: str) -> dict[str, object]:
    from memlens.analyses.summary import summarize

    totals = summarize(snap, residency=False).totals
    crash = snap.crash
    stamp = dump_time(snap)
    return {
        "key": key, "path": path, "analysis": analysis, "format": snap.format,
        "arch": snap.arch.name if snap.arch else None, "pid": snap.pid,
        "command_line": snap.command_line,
        "time": float(stamp) if stamp is not None else os.stat(path).st_mtime,
        "crash_reason": crash.description if crash else None,
        "crash_address": crash.address if crash else None,
        "crash_thread": crash.thread_id if crash else None,
        "signature": None, "threads": len(snap.threads), "modules": len(snap.modules),
        "regions": totals.count, "mapped_bytes": totals.mapped, "saved_bytes": totals.saved,
        "heap_bytes": None, "heap_blocks": None, "warnings": len(snap.warnings),
        "first_warning": snap.warnings[0] if snap.warnings else None, "seconds": None,
    }  # fmt: skip


def dump_time(snap: Snapshot) -> float | None:
    """When the dump was written, as the dump says (Unix seconds), if it does."""
    when = snap.extra.get("time")  # .mlheap
    if isinstance(when, (int, float)):
        return float(when)
    text = snap.extra.get("dump_time")  # minidump header, UTC
    if isinstance(text, str):
        try:
            stamp = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return None
        return stamp.timestamp()
    return None


def _module_rows(modules: Sequence[Module], key: str) -> list[dict[str, object]]:
    return [
        {"key": key, "path": m.path, "name": os.path.basename(m.path), "base": m.base,
         "size": m.size, "build_id": m.build_id.hex() if m.build_id else None,
         "debug_id": m.debug_id}
        for m in modules
    ]  # fmt: skip


def _frame_rows(key: str, stack: ThreadStack) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, f in enumerate(stack.frames):
        offset = f.pc - f.module_base if f.module_base is not None else None
        rows.append({
            "key": key, "thread": stack.tid, "crashed": stack.crashed, "index": i, "pc": f.pc,
            "module": f.module, "module_offset": offset, "function": f.function,
            "file": f.file, "line": f.line, "trust": f.trust.value,
        })  # fmt: skip
    return rows


def _as_frames(stack: ThreadStack) -> list[Frame]:
    from memlens.symbols.frame import Frame

    return [Frame(address=f.pc, module=f.module, function=f.function,
                  module_offset=f.pc - f.module_base if f.module_base is not None else None)
            for f in stack.frames]  # fmt: skip


def _walk(readable: str, path: str, key: str, rows: Rows, options: TaskOptions,
          analysis: str) -> None:  # fmt: skip
    """``info``: the crashed thread's stack; ``stack``: every thread's."""
    from memlens.analyses.stack import stack_report

    with _open(readable) as snap:
        dump = _dump_row(snap, path, key, analysis)
        rows["modules"] += _module_rows(snap.modules, key)
        crashed = snap.crash.thread_id if snap.crash is not None else None
        wanted = None if analysis == "stack" else ([crashed] if crashed is not None else [])
        stacks = stack_report(snap, symbol_dirs=options.symbol_dirs, threads=wanted).threads
        if wanted != []:
            for stack in stacks:
                rows["frames"] += _frame_rows(key, stack)
        top = next((t for t in stacks if t.crashed or t.tid == crashed), None)
        if snap.crash is not None and top is not None:
            dump["signature"] = sig.signature(_as_frames(top))
        rows["dumps"].append(dump)


def _heap(readable: str, path: str, key: str, rows: Rows, options: TaskOptions) -> None:
    from memlens.heap.profile_file import HeapSnapshotFile
    from memlens.heap.report import build_report, profile_from_snapshot
    from memlens.heap.symbolize import symbolize_returns, symbolizer_for_profile

    with _open(readable) as snap:
        dump = _dump_row(snap, path, key, "heap")
        if isinstance(snap, HeapSnapshotFile):
            profile = snap.profile
        else:
            profile = profile_from_snapshot(snap)
        symbolizer = symbolizer_for_profile(profile)
        report = build_report(profile, lambda a: symbolize_returns(symbolizer, a))
        dump["heap_bytes"], dump["heap_blocks"] = report.total_bytes, report.total_count
        for group in report.groups[:HEAP_GROUPS_KEPT]:
            top = group.frames[0] if group.frames else None
            rows["heap_groups"].append({
                "key": key, "site": sig.frame_name(top) if top else "",
                "function": top.function if top else None, "module": top.module if top else None,
                "module_offset": top.module_offset if top else None,
                "stack": " < ".join(sig.frame_name(f) for f in group.frames),
                "blocks": group.count, "bytes": group.bytes,
            })  # fmt: skip
        rows["modules"] += _module_rows(snap.modules or profile.modules, key)
        rows["dumps"].append(dump)


def _leaks(readable: str, path: str, key: str, rows: Rows, options: TaskOptions) -> None:
    from memlens.glibc.leakreport import leak_report

    with _open(readable) as snap:
        dump = _dump_row(snap, path, key, "leaks")
        report = leak_report(snap)
        dump["heap_blocks"] = int(sum(n for n, _ in report.summary.values()))
        dump["heap_bytes"] = int(sum(b for _, b in report.summary.values()))
        for group in report.groups:
            signature = group.class_name or group.signature
            rows["leaks"].append({"key": key, "kind": group.kind, "size": group.size,
                                  "signature": signature, "blocks": group.count,
                                  "bytes": group.bytes})  # fmt: skip
        rows["modules"] += _module_rows(snap.modules, key)
        rows["dumps"].append(dump)


def _mpy(readable: str, path: str, key: str, rows: Rows, options: TaskOptions) -> None:
    from memlens.mpy.objects import type_stats
    from memlens.mpy.session import analyse_snapshot

    with _open(readable) as snap:
        dump = _dump_row(snap, path, key, "mpy")
        report = analyse_snapshot(snap, path, None)
        dump["heap_bytes"] = report.heap.info.used
        if report.objects is not None:
            stats = type_stats(report.objects)
            dump["heap_blocks"] = sum(s.count for s in stats)
            for stat in stats:
                rows["mpy_types"].append({"key": key, "type": stat.type, "objects": stat.count,
                                          "bytes": stat.bytes})  # fmt: skip
        warnings = [*snap.warnings, *report.heap.warnings]
        dump["warnings"] = len(warnings)
        dump["first_warning"] = warnings[0] if warnings else None
        rows["dumps"].append(dump)


#: the modules each analysis imports as it runs (lazily, so that ``memlens`` starts
#: fast); local worker processes import them before their first input (scheduler.py)
_COMMON = ("memlens.batch.scheduler", "memlens.targets", "memlens.analyses.summary",
           "memlens.sources.minidump.reader", "memlens.sources.elfcore.reader",
           "pyarrow.parquet", "_strptime")  # fmt: skip
MODULES: dict[str, tuple[str, ...]] = {
    "info": (*_COMMON, "memlens.analyses.stack"),
    "stack": (*_COMMON, "memlens.analyses.stack"),
    "heap": (*_COMMON, "memlens.heap.profile_file", "memlens.heap.report",
             "memlens.heap.symbolize"),
    "leaks": (*_COMMON, "memlens.glibc.leakreport"),
    "mpy": (*_COMMON, "memlens.mpy.objects", "memlens.mpy.session"),
}  # fmt: skip

_RUNNERS: dict[str, Callable[[str, str, str, Rows, TaskOptions], None]] = {
    "info": lambda r, p, k, rows, o: _walk(r, p, k, rows, o, "info"),
    "stack": lambda r, p, k, rows, o: _walk(r, p, k, rows, o, "stack"),
    "heap": _heap, "leaks": _leaks, "mpy": _mpy,
}  # fmt: skip

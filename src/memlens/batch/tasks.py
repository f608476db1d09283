"""One batch task: one input file analysed into table rows.

A task never raises for a bad input: whatever goes wrong becomes one ``errors``
row naming the file and the reason, and the rows already made for it are
dropped (a row is either complete or absent).  Symbolizers are cached per
worker process across tasks, keyed by the module files they read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from memlens.batch import signature as sig
from memlens.batch.inputs import readable_path
from memlens.batch.tables import Rows, empty_rows
from memlens.errors import FormatError, MemlensError

if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot
    from memlens.symbols.frame import Frame

#: the analyses ``memlens batch`` runs
ANALYSES = ("info", "heap", "mpy")
#: a compressed input may decompress to at most this (memory of one worker)
MAX_DECOMPRESSED = 8 << 30
#: heap groups kept per input (the largest); the dump row has the exact totals
HEAP_GROUPS_KEPT = 200


def analyse(path: str, analysis: str, key: str) -> Rows:
    """The rows of one input; errors become an ``errors`` row, never an exception."""
    start = time.perf_counter()
    rows = empty_rows()
    try:
        with readable_path(path, MAX_DECOMPRESSED) as readable:
            _RUNNERS[analysis](readable, path, key, rows)
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


def _module_rows(snap: Snapshot, key: str) -> list[dict[str, object]]:
    return [
        {"key": key, "path": m.path, "name": os.path.basename(m.path), "base": m.base,
         "size": m.size, "build_id": m.build_id.hex() if m.build_id else None,
         "debug_id": m.debug_id}
        for m in snap.modules
    ]  # fmt: skip


_SYMBOLIZERS: dict[tuple[tuple[str, int, int], ...], Callable[[Sequence[int]], list[Frame]]] = {}


def _symbolize(snap: Snapshot, addresses: Sequence[int]) -> list[Frame]:
    """Frames for ``addresses``, with a symbolizer cached for the same set of module
    files at the same places (many dumps of one build share it)."""
    from memlens.symbols.chain import symbolizer_for

    ident = tuple(sorted((m.path, m.base, m.end) for m in snap.modules))
    cached = _SYMBOLIZERS.get(ident)
    if cached is None:
        cached = symbolizer_for(snap).symbolize
        if len(_SYMBOLIZERS) > 64:
            _SYMBOLIZERS.clear()
        _SYMBOLIZERS[ident] = cached
    return cached(list(addresses))


def _info(readable: str, path: str, key: str, rows: Rows) -> None:
    with _open(readable) as snap:
        dump = _dump_row(snap, path, key, "info")
        rows["modules"] += _module_rows(snap, key)
        threads = [t for t in snap.threads if t.pc is not None]
        frames = _symbolize(snap, [t.pc for t in threads if t.pc is not None])
        crashed: list[Frame] = []
        for t, frame in zip(threads, frames, strict=True):
            is_crashed = t.crashed or (snap.crash is not None and snap.crash.thread_id == t.tid)
            rows["frames"].append({
                "key": key, "thread": t.tid, "crashed": is_crashed, "index": 0,
                "pc": frame.address, "module": frame.module, "module_offset": frame.module_offset,
                "function": frame.function, "file": frame.file, "line": frame.line,
                "trust": "context",
            })  # fmt: skip
            if is_crashed:
                crashed.append(frame)
        dump["signature"] = sig.signature(crashed) if snap.crash is not None else None
        rows["dumps"].append(dump)


def _heap(readable: str, path: str, key: str, rows: Rows) -> None:
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
        rows["modules"] += _module_rows(snap, key) or [
            {"key": key, "path": m.path, "name": os.path.basename(m.path), "base": m.base,
             "size": m.size, "build_id": m.build_id.hex() if m.build_id else None,
             "debug_id": m.debug_id}
            for m in profile.modules
        ]  # fmt: skip
        rows["dumps"].append(dump)


def _mpy(readable: str, path: str, key: str, rows: Rows) -> None:
    from memlens.mpy.heap import analyse as analyse_heap
    from memlens.mpy.objects import objects, type_stats

    with _open(readable) as snap:
        dump = _dump_row(snap, path, key, "mpy")
        heap = analyse_heap(snap.space, source=snap.source)
        stats = type_stats(objects(heap))
        for stat in stats:
            rows["mpy_types"].append({"key": key, "type": stat.type, "objects": stat.count,
                                      "bytes": stat.bytes})  # fmt: skip
        info = heap.info
        dump["heap_bytes"], dump["heap_blocks"] = info.used, sum(s.count for s in stats)
        rows["dumps"].append(dump)


_RUNNERS: dict[str, Callable[[str, str, str, Rows], None]] = {
    "info": _info, "heap": _heap, "mpy": _mpy,
}  # fmt: skip

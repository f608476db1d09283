"""``memlens leaks --format json``: the same report, versioned, keys sorted."""

from __future__ import annotations

from typing import Any, TextIO

from memlens.glibc.leakreport import LeakReport
from memlens.render.jsonout import dump
from memlens.symbols.frame import Frame


def payload(report: LeakReport) -> dict[str, Any]:
    walk = report.walk
    return {
        "target": report.target,
        "method": walk.method,
        "complete": walk.complete,
        "arenas": [{"address": a.address, "main": a.main, "top": a.top, "top_size": a.top_size,
                    "system_mem": a.system_mem, "heaps": [list(h) for h in a.heaps]}
                   for a in walk.arenas],
        "chunks": len(walk.chunks),
        "mallinfo2": walk.mallinfo(),
        "findings": [{"check": f.check, "address": f.address, "message": f.message,
                      "chunk": f.chunk, "previous": f.previous, "words": list(f.words)}
                     for f in walk.findings],
        "notes": walk.notes + report.reach.notes,
        "summary": {name: {"blocks": b, "bytes": n} for name, (b, n) in report.summary.items()},
        "size_unit": "requested bytes" if report.shim else "usable bytes",
        "groups": [{"kind": g.kind, "size": g.size, "signature": g.signature,
                    "class": g.class_name, "blocks": g.count, "bytes": g.bytes,
                    "examples": list(g.examples), "stack": [_frame(f) for f in g.stack]}
                   for g in report.groups],
    }


def _frame(f: Frame) -> dict[str, Any]:
    return {"address": f.address, "function": f.function, "module": f.module,
            "file": f.file, "line": f.line}  # fmt: skip


def write_json(report: LeakReport, out: TextIO) -> None:
    dump("leaks", payload(report), out)

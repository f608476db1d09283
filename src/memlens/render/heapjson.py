"""Heap report as JSON (``memlens heap --as json``), via :mod:`memlens.render.jsonout`."""

from __future__ import annotations

from typing import Any, TextIO

from memlens.heap.report import HeapReport
from memlens.render import jsonout
from memlens.render.frames import frame_json


def payload(report: HeapReport) -> dict[str, Any]:
    p = report.profile
    return {
        "target": p.source,
        "format": p.format,
        "pid": p.pid,
        "reason": p.reason,
        "total_bytes": report.total_bytes,
        "total_blocks": report.total_count,
        "sampled": report.sampled,
        "warnings": p.warnings,
        "groups": [
            {
                "percent": round(report.percent(g), 3),
                "bytes": g.bytes,
                "blocks": g.count,
                "estimated_bytes": round(g.est_bytes),
                "estimated_blocks": round(g.est_count),
                "sizes": list(g.sizes),
                "sizes_truncated": len(g.sizes) < g.count,
                "frames": [frame_json(f, inlined=False) for f in g.frames],
            }
            for g in report.groups
        ],
    }


def write(report: HeapReport, out: TextIO) -> None:
    jsonout.dump("heap", payload(report), out)

"""Heap report as a speedscope file (https://www.speedscope.app/file-format-schema.json).

One ``sampled`` profile in bytes: a sample per allocation site, stacks listed
outermost frame first as speedscope expects, weights = live (estimated) bytes.
"""

from __future__ import annotations

from typing import Any, TextIO

from memlens import __version__
from memlens.heap.report import HeapReport
from memlens.render import jsonout
from memlens.render.heaptext import frame_label
from memlens.symbols.frame import Frame

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def document(report: HeapReport) -> dict[str, Any]:
    frames: list[dict[str, Any]] = []
    index: dict[tuple[str, str | None, int | None], int] = {}

    def frame_id(f: Frame) -> int:
        name = frame_label(f)
        key = (name, f.file, f.line)
        if key not in index:
            index[key] = len(frames)
            entry: dict[str, Any] = {"name": name}
            if f.file:
                entry["file"] = f.file
            if f.line:
                entry["line"] = f.line
            frames.append(entry)
        return index[key]

    samples, weights = [], []
    for g in report.groups:
        stack = g.frames or (Frame(address=0, function="(no stack)"),)
        samples.append([frame_id(f) for f in reversed(stack)])
        weights.append(round(g.est_bytes))
    p = report.profile
    name = f"heap of {'pid ' + str(p.pid) if p.pid else p.source}"
    return {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "bytes",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": f"memlens {__version__}",
    }


def write(report: HeapReport, out: TextIO) -> None:
    out.write(jsonout.dumps(document(report)))
    out.write("\n")

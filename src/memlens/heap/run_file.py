"""A finished run read back from ``OUT/report.json`` (``memlens heap diff OUT --from --to``).

The document is the one :mod:`memlens.render.runjson` writes: the timeline's
samples, each with the table rows whose live figures changed since the one
before; which stack each row is summed into; and every stack's symbolized
frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from memlens.errors import FormatError
from memlens.heap.timeline import NO_CHANGES, Sample, StackChanges, Timeline
from memlens.symbols.frame import Frame


@dataclass(frozen=True, slots=True)
class RunTimeline:
    path: str
    command: list[str]
    pid: int
    sampled: bool
    timeline: Timeline
    aliases: dict[int, int]  # table row -> the stack id it is summed into
    frames: dict[int, tuple[Frame, ...]]  # stack id -> its frames, innermost first


def report_path(path: str) -> str:
    """``path`` itself, or ``path/report.json`` for a ``memlens run`` output directory."""
    return os.path.join(path, "report.json") if os.path.isdir(path) else path


def frame_from_json(d: dict[str, Any]) -> Frame:
    return Frame(
        address=int(d["address"]), module=d.get("module"), module_offset=d.get("module_offset"),
        function=d.get("function"), function_offset=d.get("function_offset"),
        file=d.get("file"), line=d.get("line"),
        inlined_by=tuple(frame_from_json(i) for i in d.get("inlined_by") or ()),
    )  # fmt: skip


def _changes(rows: list[list[int]]) -> StackChanges:
    if not rows:
        return NO_CHANGES
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    return StackChanges(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy())


def load_run(path: str) -> RunTimeline:
    """The run whose report is at ``path`` (a ``memlens run --out`` directory or its
    ``report.json``).

    Raises:
        FormatError: not a run report, or one written without per-stack changes.
    """
    file = report_path(path)
    try:
        with open(file, "rb") as f:
            doc = orjson.loads(f.read())
    except OSError as e:
        raise FormatError(file, 0, f"cannot read: {e.strerror}") from None
    except orjson.JSONDecodeError as e:
        raise FormatError(file, e.pos, "not JSON") from None
    if not isinstance(doc, dict) or doc.get("kind") != "run":
        raise FormatError(file, 0, "not a memlens run report (report.json)")
    tl = doc.get("timeline")
    if not isinstance(tl, dict) or not tl.get("samples"):
        raise FormatError(file, 0, "the run report has no timeline")
    try:
        samples = tl["samples"]
        if any("changed" not in s for s in samples):
            raise FormatError(file, 0, "written by an older memlens: no per-stack changes "
                              "in its timeline (run the program again)")  # fmt: skip
        timeline = Timeline(float(tl["interval"]), [
            Sample(float(s["t"]), int(s["live_bytes"]), s.get("rss"), int(s["allocs"]),
                   int(s["frees"]), tuple((int(a), int(b)) for a, b in s.get("top") or ()),
                   _changes(s["changed"]), bool(s.get("stacks", True)))
            for s in samples
        ])  # fmt: skip
        aliases = {int(k): int(v) for k, v in (tl.get("stack_of_row") or {}).items()}
        frames = {
            int(s["id"]): tuple(frame_from_json(f) for f in s.get("frames") or ())
            for s in doc.get("stacks") or ()
        }
        return RunTimeline(file, [str(c) for c in doc.get("command") or ()], int(doc["pid"]),
                           bool(doc.get("sampled")), timeline, aliases, frames)  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(file, 0, f"malformed run report: {e}") from None

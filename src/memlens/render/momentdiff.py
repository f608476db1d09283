"""``memlens heap diff OUT --from A --to B``: the growth between two moments of a run."""

from __future__ import annotations

from typing import Any, TextIO

from memlens.heap.moments import MomentDiff
from memlens.heap.run_file import RunTimeline
from memlens.render import jsonout
from memlens.render.frames import frame_json
from memlens.render.heaptext import frame_line


def _moment(t: float, index: int, live: int) -> str:
    return f"{live} bytes at {t:.3f} s (sample #{index})"


def write_text(run: RunTimeline, d: MomentDiff, out: TextIO, top: int | None = None) -> None:
    est = "~" if run.sampled else ""
    out.write(f"heap of pid {run.pid} ({' '.join(run.command)}): "
              f"{_moment(d.t_before, d.before, d.total_before)} -> "
              f"{_moment(d.t_after, d.after, d.total_after)}: "
              f"{d.total_after - d.total_before:+d} bytes\n")  # fmt: skip
    if run.sampled:
        out.write("sampled: per-stack figures are estimates (~)\n")
    if not d.stacks:
        out.write("no stack's live figures changed between the two moments\n")
    for s in d.stacks[:top]:
        out.write(f"{est}{s.bytes_delta:+d} bytes {est}{s.blocks_delta:+d} blocks "
                  f"({s.bytes_before} -> {s.bytes_after} bytes, "
                  f"{s.blocks_before} -> {s.blocks_after} blocks)\n")  # fmt: skip
        for f in run.frames.get(s.id, ()):
            out.write(f"    {frame_line(f)}\n")


def payload(run: RunTimeline, d: MomentDiff, top: int | None = None) -> dict[str, Any]:
    def moment(t: float, index: int, live: int) -> dict[str, Any]:
        return {"seconds": round(t, 6), "sample": index, "live_bytes": live}

    return {
        "pid": run.pid,
        "command": run.command,
        "sampled": run.sampled,
        "from": moment(d.t_before, d.before, d.total_before),
        "to": moment(d.t_after, d.after, d.total_after),
        "stacks": [
            {"id": s.id, "bytes_delta": s.bytes_delta, "blocks_delta": s.blocks_delta,
             "bytes_before": s.bytes_before, "bytes_after": s.bytes_after,
             "blocks_before": s.blocks_before, "blocks_after": s.blocks_after,
             "frames": [frame_json(f) for f in run.frames.get(s.id, ())]}
            for s in d.stacks[:top]
        ],
    }  # fmt: skip


def write_json(run: RunTimeline, d: MomentDiff, out: TextIO, top: int | None = None) -> None:
    jsonout.dump("heap_moment_diff", payload(run, d, top), out)

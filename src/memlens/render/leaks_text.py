"""``memlens leaks`` as text: how the heap was found, integrity, classes, groups."""

from __future__ import annotations

from typing import TextIO

from memlens.glibc.leakreport import LeakReport
from memlens.glibc.reach import LEAK_NAMES
from memlens.symbols.frame import Frame

STACK_LINES = 8  # frames shown per group's allocation stack


def write_text(report: LeakReport, out: TextIO, *, top: int | None = None) -> None:
    walk = report.walk
    mi = walk.mallinfo()
    out.write(f"glibc heap of {report.target}: {len(walk.arenas)} arena(s), "
              f"{len(walk.chunks):,} chunks ({walk.method})\n")  # fmt: skip
    out.write("mallinfo2: " + " ".join(f"{k}={v}" for k, v in mi.items()) + "\n")
    if not walk.complete:
        out.write("walk incomplete: figures cover the chunks walked\n")
    for f in walk.findings:
        around = ""
        if f.chunk is not None:
            around = f" [chunk {f.chunk:#x}" + (
                f", previous {f.previous:#x}]" if f.previous is not None else "]")
        out.write(f"heap check failed: {f.check} at {f.address:#x}: {f.message}{around}\n")
        if f.words:
            at = f.previous if f.previous is not None else f.chunk
            out.write(f"  words at {at:#x}: " + " ".join(f"{v:#x}" for v in f.words) + "\n")
    for note in walk.notes + report.reach.notes:
        out.write(f"note: {note}\n")
    unit = "requested sizes, from the shim's records" if report.shim else "usable sizes"
    out.write(f"\nLEAK SUMMARY (bytes are {unit})\n")
    for name in LEAK_NAMES.values():
        blocks, size = report.summary[name]
        out.write(f"  {name:>16}: {size:,} bytes in {blocks:,} blocks\n")
    if not report.groups:
        return
    out.write("\n  class            blocks        bytes    size  signature  (examples)\n")
    for g in report.groups[:top]:
        ex = " ".join(f"{a:#x}" for a in g.examples[:3])
        out.write(f"  {g.kind:<16} {g.count:>6,} {g.bytes:>12,} {g.size:>7,}  "
                  f"{g.signature}  ({ex})\n")  # fmt: skip
        if report.shim is not None:
            _write_stack(g.stack, out)
    if top is not None and len(report.groups) > top:
        out.write(f"  ... {len(report.groups) - top} more groups (--top)\n")


def _write_stack(stack: tuple[Frame, ...], out: TextIO) -> None:
    """A group's allocation stack under its line, innermost first."""
    if not stack:
        out.write("      (no stack: not sampled, or the shim's table is not in this image)\n")
    for f in stack[:STACK_LINES]:
        where = f" {f.file.rsplit('/', 1)[-1]}:{f.line}" if f.file and f.line else ""
        out.write(f"      {f.short()}{where}\n")
    if len(stack) > STACK_LINES:
        out.write(f"      ... {len(stack) - STACK_LINES} more frames\n")

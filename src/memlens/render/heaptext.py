"""Heap reports as text: the flat list of stacks (the seed's shape) and a call tree.

Flat: one paragraph per allocation site, largest first::

    19% 10000 [1000, 2000, 3000, 1000, 3000]
        0x55d0c0a0b1c9 example_func+0x2d  test.c:9  (test)

Percentages are of all live bytes with a record.  The tree merges stacks from
the outermost caller down, with inclusive bytes per node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from memlens.heap.report import Group, HeapReport
from memlens.render.units import human_size
from memlens.symbols.frame import Frame

SIZES_SHOWN = 16


def frame_label(f: Frame) -> str:
    """``function`` or ``0xaddr`` -- the name a flame graph or folded line shows.

    A Python frame (a source line but no module: interpreted code) also shows its
    file's name and line, so that each line is a node of its own.
    """
    if not f.function:
        return f"{f.address:#x}"
    if f.module is None and f.file and f.line is not None:
        return f"{f.function} ({f.file.rsplit('/', 1)[-1]}:{f.line})"
    return f.function


def frame_line(f: Frame) -> str:
    mod = f.module.rsplit("/", 1)[-1] if f.module else None
    parts = [f"{f.address:#x}"]
    if f.function:
        parts.append(f.function + (f"+{f.function_offset:#x}" if f.function_offset else ""))
    elif mod is not None and f.module_offset is not None:
        parts.append(f"{mod}+{f.module_offset:#x}")
    else:
        parts.append("??")
    if f.file:
        parts.append(f" {f.file}" + (f":{f.line}" if f.line else ""))
    if mod:
        parts.append(f" ({mod})")
    return " ".join(parts)


def sizes_text(g: Group) -> str:
    shown = list(g.sizes[:SIZES_SHOWN])
    more = g.count - len(shown)
    body = ", ".join(str(s) for s in shown)
    return f"[{body}, … {more} more]" if more > 0 else f"[{body}]"


def header(report: HeapReport) -> str:
    p = report.profile
    what = f"pid {p.pid}" if p.pid else p.source
    line = (
        f"heap of {what}: {report.total_bytes} bytes ({human_size(report.total_bytes)}) in "
        f"{report.total_count} live blocks, {len(report.groups)} stacks shown"
    )
    if p.reason:
        line += f", snapshot at {p.reason}"
    if report.sampled:
        line += "; sampled: per-stack figures are estimates (~)"
    return line


def write_flat(report: HeapReport, out: TextIO) -> None:
    out.write(header(report) + "\n")
    for w in report.profile.warnings[:5]:
        out.write(f"warning: {w}\n")
    for g in report.groups:
        pct = int(report.percent(g))
        if report.sampled:
            out.write(f"~{pct}% ~{round(g.est_bytes)} ~{round(g.est_count)} blocks "
                      f"(sampled {g.count}: {sizes_text(g)})\n")  # fmt: skip
        else:
            out.write(f"{pct}% {g.bytes} {sizes_text(g)}\n")
        if not g.frames:
            out.write("    (no stack: allocated inside the unwinder, before start-up, "
                      "or with MEMLENS_UNWIND=none)\n")  # fmt: skip
        for f in g.frames:
            out.write(f"    {frame_line(f)}\n")


@dataclass
class Node:
    label: str
    value: float = 0.0
    children: dict[str, Node] = field(default_factory=dict)

    def child(self, label: str) -> Node:
        node = self.children.get(label)
        if node is None:
            node = self.children[label] = Node(label)
        return node


def call_tree(groups: Iterable[Group], root_label: str = "all") -> Node:
    """Stacks merged from the outermost caller down; values are (estimated) bytes."""
    root = Node(root_label)
    for g in groups:
        root.value += g.est_bytes
        node = root
        for f in reversed(g.frames or (Frame(address=0, function="(no stack)"),)):
            node = node.child(frame_label(f))
            node.value += g.est_bytes
    return root


def write_tree(report: HeapReport, out: TextIO, min_percent: float = 0.5) -> None:
    out.write(header(report) + "\n")
    root = call_tree(report.groups)
    total = report.total_bytes or 1

    def walk(node: Node, depth: int) -> None:
        kids = sorted(node.children.values(), key=lambda n: (-n.value, n.label))
        for k in kids:
            pct = 100.0 * k.value / total
            if pct < min_percent:
                continue
            out.write(f"{'  ' * depth}{pct:5.1f}% {human_size(round(k.value)):>6} {k.label}\n")
            walk(k, depth + 1)

    walk(root, 0)


def folded_lines(groups: Sequence[Group]) -> list[str]:
    """``outer;…;inner bytes`` per stack (Brendan Gregg's folded format), merged and sorted."""
    acc: dict[str, float] = {}
    for g in groups:
        frames = g.frames or (Frame(address=0, function="(no stack)"),)
        key = ";".join(frame_label(f).replace(";", ":") for f in reversed(frames))
        acc[key] = acc.get(key, 0.0) + g.est_bytes
    return [f"{k} {round(v)}" for k, v in sorted(acc.items())]

"""Ownership graph in Graphviz ``dot`` language, and rendering through ``dot``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from memlens.errors import MemlensError, ToolMissingError
from memlens.render.mpy_svg import COLOURS


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_source(
    nodes: Sequence[tuple[int, str, str, bool]],
    edges: Sequence[tuple[int, int]],
    roots: Sequence[tuple[str, int]],
) -> str:
    """nodes: (address, label, letter, reachable); edges: (from, to); roots: (name, to)."""
    out = ["digraph heap {", "  rankdir=LR;",
           '  node [shape=box, style=filled, fontname="monospace", fontsize=9];']  # fmt: skip
    for addr, label, letter, reachable in nodes:
        colour = COLOURS.get(letter, COLOURS["h"])
        extra = "" if reachable else ', color="#d32f2f", penwidth=2, style="filled,dashed"'
        out.append(f'  n{addr:x} [label={_q(label)}, fillcolor="{colour}"{extra}, '
                   f'tooltip={_q(f"{addr:#x}")}];')  # fmt: skip
    names = sorted({name for name, _ in roots})
    for i, name in enumerate(names):
        out.append(f"  r{i} [label={_q(name)}, shape=plaintext, style=solid];")
    index = {name: i for i, name in enumerate(names)}
    for name, to in roots:
        out.append(f"  r{index[name]} -> n{to:x};")
    for a, b in edges:
        out.append(f"  n{a:x} -> n{b:x};")
    out.append("}")
    return "\n".join(out) + "\n"


def render(source: str, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on ``source``.

    Raises:
        ToolMissingError: Graphviz is not installed.
        MemlensError: dot failed.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise ToolMissingError("dot", "install Graphviz (Debian: apt-get install graphviz)")
    try:
        proc = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True,
                              timeout=300, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MemlensError(f"dot failed: {e}") from None
    if proc.returncode != 0:
        raise MemlensError(f"dot failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout

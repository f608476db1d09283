"""Ownership graph in Graphviz ``dot`` language, and rendering through ``dot``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from memlens.errors import MemlensError, ToolMissingError
from memlens.mpy.graph import OwnershipGraph
from memlens.mpy.heap import MpyHeap
from memlens.mpy.objects import HeapObject
from memlens.render.mpy_svg import COLOURS

# A tail label with labeldistance (or labelangle) set is placed by geometry beside
# the edge's tail.  Without them dot hands every tail label to its external-label
# placer, an R-tree search that took 85% of dot's time on a 1500-node heap graph
# (7 of 8 s CPU for an 8 MiB heap) and put more labels over their own node.
EDGE_LABELS = 'labeldistance=1.5, fontname="monospace", fontsize=8'


# dot's crossing minimisation runs mclimit x 24 iterations per pass; on big graphs
# 0.3 of that cut its CPU time by a third for 1.3% more crossings (1 MiB heap,
# 1600 nodes: 0.9 s -> 0.3 s, 7575 -> 7682 crossings); small graphs keep it all.
BIG_GRAPH = 500
BIG_GRAPH_MCLIMIT = 0.3


def _q(text: str) -> str:
    """A dot string; a newline in ``text`` becomes dot's own line break."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + body + '"'


def dot_source(
    nodes: Sequence[tuple[int, str, str, bool]],
    edges: Sequence[tuple[int, int, str]],
    roots: Sequence[tuple[str, int]],
) -> str:
    """nodes: (address, label with newlines, letter, reachable); edges: (from, to, where
    in ``from`` the pointer is, shown at the edge's tail);
    roots: (name, to)."""
    out = ["digraph heap {", "  rankdir=LR;",
           '  node [shape=box, style=filled, fontname="monospace", fontsize=9];',
           f"  edge [{EDGE_LABELS}];"]  # fmt: skip
    if len(nodes) > BIG_GRAPH:
        out.append(f"  mclimit={BIG_GRAPH_MCLIMIT};")
    for addr, label, letter, reachable in nodes:
        colour = COLOURS.get(letter, COLOURS["h"])
        extra = "" if reachable else ', color="#d32f2f", penwidth=2, style="filled,dashed"'
        out.append(f'  n{addr:x} [label={_q(label)}, fillcolor="{colour}"{extra}, '
                   f"tooltip={_q(label.replace(chr(10), ' '))}];")  # fmt: skip
    names = sorted({name for name, _ in roots})
    for i, name in enumerate(names):
        out.append(f"  r{i} [label={_q(name)}, shape=plaintext, style=solid];")
    index = {name: i for i, name in enumerate(names)}
    for name, to in roots:
        out.append(f"  r{index[name]} -> n{to:x};")
    for a, b, where in edges:
        tail = f" [taillabel={_q(where)}]" if where else ""
        out.append(f"  n{a:x} -> n{b:x}{tail};")
    out.append("}")
    return "\n".join(out) + "\n"


def pipe_through(tool: str, args: list[str], data: bytes, hint: str) -> bytes:
    """Run an external filter program on ``data`` and return its output.

    Raises:
        ToolMissingError: ``tool`` is not installed (``hint`` says how to get it).
        MemlensError: it failed.
    """
    path = shutil.which(tool)
    if path is None:
        raise ToolMissingError(tool, hint)
    try:
        proc = subprocess.run([path, *args], input=data, capture_output=True, timeout=300,
                              check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MemlensError(f"{tool} failed: {e}") from None
    if proc.returncode != 0:
        raise MemlensError(f"{tool} failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout


def render(source: str, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on ``source``.

    Raises:
        ToolMissingError: Graphviz is not installed.
        MemlensError: dot failed.
    """
    hint = "install Graphviz (Debian: apt-get install graphviz)"
    return pipe_through("dot", [f"-T{fmt}"], source.encode(), hint)


_dot_threads: ThreadPoolExecutor | None = None


def render_soon(source: str, fmt: str) -> Future[bytes]:
    """:func:`render` started now in a thread: dot's layout takes a second or more
    on a big graph, and the caller makes its text and page on the other CPU
    meanwhile.  ``result()`` returns the output or raises what :func:`render` raises.
    """
    global _dot_threads
    if _dot_threads is None:
        _dot_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dot")
    return _dot_threads.submit(render, source, fmt)


def heap_dot(
    heap: MpyHeap, objs: Sequence[HeapObject], graph: OwnershipGraph, keep: npt.NDArray[np.bool_]
) -> str:
    """The ownership graph of the kept allocations, roots named by symbols when known;
    a kept allocation that points at some left out says how many and of what."""
    addr = heap.heads.address.tolist()
    left_out = not_drawn(heap, objs, graph, keep)
    nodes = []
    for i in np.flatnonzero(keep).tolist():
        o = objs[i]
        label = f"{addr[i]:#x}\n{o.type} {o.size}B" + (f"\n{o.content[:24]}" if o.content
                                                        else "")  # fmt: skip
        if i in left_out:
            label += "\n" + left_out[i]
        nodes.append((addr[i], label, o.letter, bool(graph.reachable[i])))
    ws = heap.word_size
    both = keep[graph.src] & keep[graph.dst]
    triples = zip(graph.src[both].tolist(), graph.dst[both].tolist(),
                  graph.src_word[both].tolist(), strict=True)  # fmt: skip
    edges = sorted({(addr[s], addr[d], f"+{w * ws:#x}") for s, d, w in triples})
    where = graph.root_address.tolist()
    names = heap.place_names(where)
    targets = graph.root_target.tolist()
    roots = sorted({(f"root {n or hex(r)}", addr[t])
                    for r, n, t in zip(where, names, targets, strict=True) if keep[t]})  # fmt: skip
    return dot_source(nodes, edges, roots)


def not_drawn(
    heap: MpyHeap, objs: Sequence[HeapObject], graph: OwnershipGraph, keep: npt.NDArray[np.bool_]
) -> dict[int, str]:
    """For each kept allocation that points at allocations left out of the picture:
    a line saying how many, of which types (the two commonest), how many bytes."""
    out = keep[graph.src] & ~keep[graph.dst]
    if not out.any():
        return {}
    n = len(objs)  # one int64 key per (holder, held) pair: unique in 1-D is fast
    holder, held = np.divmod(np.unique(graph.src[out] * n + graph.dst[out]), n)
    sizes = heap.heads.blocks * heap.block_size
    holders, first, counts = np.unique(holder, return_index=True, return_counts=True)
    held_bytes = np.add.reduceat(sizes[held], first)
    by_type: dict[int, dict[str, int]] = {}
    for h, j in zip(holder.tolist(), held.tolist(), strict=True):
        tally = by_type.setdefault(h, {})
        tally[objs[j].type] = tally.get(objs[j].type, 0) + 1
    lines = {}
    for h, count, size in zip(holders.tolist(), counts.tolist(), held_bytes.tolist(),
                              strict=True):  # fmt: skip
        kinds = sorted(by_type[h].items(), key=lambda kv: (-kv[1], kv[0]))
        named = ", ".join(f"{k} x{c}" for k, c in kinds[:2]) + (", ..." if len(kinds) > 2 else "")
        lines[h] = f"+{count} not drawn ({size} B): {named}"
    return lines

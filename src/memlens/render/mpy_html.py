"""One self-contained HTML page: heap numbers, layout SVG and ownership SVG,
with a details panel filled on hover (no external resources)."""

from __future__ import annotations

import json
from dataclasses import asdict
from html import escape

from memlens.mpy.fragmentation import Fragmentation
from memlens.mpy.heap import MpyHeap
from memlens.mpy.objects import HeapObject, type_stats
from memlens.render.mpy_meminfo import info_lines
from memlens.render.mpy_svg import heap_layout_svg

_SCRIPT = """
const info = document.getElementById('details');
document.querySelectorAll('svg .blk, svg g.node').forEach(el => {
  el.addEventListener('mouseenter', () => {
    // dot puts a node's tooltip on its <a xlink:title>; layout blocks carry a <title>
    const a = el.querySelector('a');
    const tip = a && (a.getAttribute('xlink:title') || a.getAttribute('title'));
    const t = el.querySelector('title');
    info.textContent = tip || (t ? t.textContent : '');
  });
});
document.body.dataset.ready = String(document.querySelectorAll('svg .blk').length);
"""


def page(
    title: str, summary: str, layout_svg: str, graph_svg: str | None, data: dict[str, object]
) -> str:
    graph = graph_svg if graph_svg is not None else "<p>(ownership graph not drawn)</p>"
    if graph.startswith("<?xml"):
        graph = graph[graph.index("<svg") :]
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}pre{background:#fafafa;padding:.5em}"
        "#details{position:sticky;top:0;background:#ffe;border:1px solid #cc9;padding:.3em;"
        "font-family:monospace;min-height:1.2em}</style></head><body>"
        f"<h1>{escape(title)}</h1><pre>{escape(summary)}</pre>"
        '<div id="details">hover a block for details</div>'
        f"<h2>Layout</h2>{layout_svg}<h2>Ownership</h2>{graph}"
        f'<script type="application/json" id="data">{escape(json.dumps(data, sort_keys=True))}'
        f"</script><script>{_SCRIPT}</script></body></html>\n"
    )


def heap_page(
    heap: MpyHeap, objs: list[HeapObject], frag: Fragmentation, source: str, graph_svg: str
) -> str:
    """The page for one analysed heap: numbers, layout, ownership graph."""
    summary = info_lines(heap.info) + (
        f"largest free run {frag.largest_free_bytes} B of {frag.free_bytes} B free, "
        f"{frag.free_runs} free runs\n")  # fmt: skip
    layout = heap_layout_svg(heap, objs, source)
    data: dict[str, object] = {"gc": {k: int(v) for k, v in asdict(heap.info).items()},
                               "types": [asdict(t) for t in type_stats(objs)]}  # fmt: skip
    return page(f"memlens mpy: {source}", summary, layout, graph_svg, data)

"""Heap report as one self-contained HTML flame graph (no network, no external files).

The call tree (outermost caller at the top, an icicle) is embedded as JSON;
a few lines of JavaScript lay it out as absolutely positioned boxes whose
widths are proportional to live bytes.  Clicking a box zooms to it (it fills
the width, its ancestors stay as full-width bars); clicking the root or
pressing Escape resets.  Each box has ``data-name`` and a tooltip with bytes
and percent.
"""

from __future__ import annotations

import html
from typing import Any, TextIO

from memlens.heap.report import HeapReport
from memlens.render import jsonout
from memlens.render.heaptext import Node, call_tree, header

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>%(title)s</title>
<style>
body{font:12px system-ui,sans-serif;margin:8px;background:#fff;color:#111}
h1{font-size:15px;margin:0 0 4px}
#info{margin:0 0 8px;color:#444;min-height:1.2em}
#graph{position:relative;width:100%%;overflow:hidden}
.f{position:absolute;height:17px;box-sizing:border-box;border:1px solid #fff;
 overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding:0 3px;line-height:15px;
 cursor:pointer;border-radius:2px}
.f:hover{border-color:#000}
</style></head>
<body>
<h1>%(title)s</h1>
<p id="info">%(summary)s &mdash; click a frame to zoom, Escape or the root to reset</p>
<div id="graph"></div>
<script id="data" type="application/json">%(data)s</script>
<script>
"use strict";
const root = JSON.parse(document.getElementById("data").textContent);
const graph = document.getElementById("graph");
const info = document.getElementById("info");
const ROW = 18;
let focus = root;
(function link(n, parent, depth) {
  n.parent = parent; n.depth = depth;
  (n.c || []).forEach(k => link(k, n, depth + 1));
})(root, null, 0);
function color(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return "hsl(" + (10 + h %% 40) + "," + (60 + h %% 30) + "%%," + (55 + h %% 15) + "%%)";
}
function fmt(v) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v.toFixed(0)) + " " + u[i];
}
function box(n, x, w) {
  const d = document.createElement("div");
  d.className = "f";
  d.style.left = (x * 100) + "%%";
  d.style.width = (w * 100) + "%%";
  d.style.top = (n.depth * ROW) + "px";
  d.style.background = color(n.n);
  d.dataset.name = n.n;
  const pct = (100 * n.v / root.v).toFixed(2);
  d.title = n.n + "\\n" + fmt(n.v) + " (" + pct + "%% of the heap)";
  d.textContent = n.n;
  d.addEventListener("click", ev => {
    ev.stopPropagation();
    zoom(n === focus ? (n.parent || root) : n);
  });
  d.addEventListener("mouseenter", () => { info.textContent = d.title.replace("\\n", ": "); });
  graph.appendChild(d);
  return d;
}
function render() {
  graph.textContent = "";
  let depth = 0;
  for (let a = focus; a; a = a.parent) { box(a, 0, 1); depth = Math.max(depth, a.depth); }
  (function lay(n, x, w) {
    let cx = x;
    for (const k of n.c || []) {
      const kw = n.v ? w * k.v / n.v : 0;
      if (kw * graph.clientWidth >= 1) { box(k, cx, kw); lay(k, cx, kw); }
      cx += kw;
    }
    depth = Math.max(depth, n.depth);
  })(focus, 0, 1);
  let max = 0;
  graph.querySelectorAll(".f").forEach(e => { max = Math.max(max, parseInt(e.style.top)); });
  graph.style.height = (max + ROW + 2) + "px";
  document.body.dataset.focus = focus.n;
}
function zoom(n) { focus = n; render(); }
document.addEventListener("keydown", e => { if (e.key === "Escape") zoom(root); });
window.addEventListener("resize", render);
render();
</script>
</body></html>
"""


def _tree_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"n": node.label, "v": round(node.value)}
    kids = sorted(node.children.values(), key=lambda k: (-k.value, k.label))
    if kids:
        out["c"] = [_tree_json(k) for k in kids]
    return out


def render(report: HeapReport) -> str:
    root = call_tree(report.groups, root_label="all live heap")
    data = jsonout.dumps(_tree_json(root)).replace("</", "<\\/")
    p = report.profile
    title = f"memlens heap: {'pid ' + str(p.pid) if p.pid else p.source}"
    return PAGE % {
        "title": html.escape(title),
        "summary": html.escape(header(report)),
        "data": data,
    }


def write(report: HeapReport, out: TextIO) -> None:
    out.write(render(report))

"""``memlens run``'s report as one self-contained HTML page (no network, no external files).

Tabs: the timeline (an SVG chart of live heap and RSS over time, the largest
stacks of each moment stacked under the heap line; hover a moment for its
figures, click to pin it and list its stacks, shift-click a second moment for
the difference) and one table per section
(peak contributors, leaks, most calls, most temporary, largest total).  The
data is embedded as JSON; a few lines of JavaScript draw it.
"""

from __future__ import annotations

import html
from typing import Any, TextIO

from memlens.heap.run_report import SECTIONS, RunReport, StackStats
from memlens.render import jsonout
from memlens.render.runtext import figures, frame_text, summary_lines

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>%(title)s</title>
<style>
body{font:12px system-ui,sans-serif;margin:8px;color:#111}
h1{font-size:15px;margin:0 0 6px}
pre{background:#f6f6f6;padding:6px;margin:0 0 8px}
.tabs button{font:inherit;padding:3px 10px;margin-right:2px;border:1px solid #999;
 background:#eee;cursor:pointer}
.tabs button.on{background:#fff;border-bottom-color:#fff}
.tab{display:none;border-top:1px solid #999;padding-top:8px}.tab.on{display:block}
table{border-collapse:collapse}td{padding:2px 8px;vertical-align:top;border-bottom:1px solid #ddd}
td.n{text-align:right;white-space:nowrap}.fr{color:#444;font-family:monospace}
#moment{min-height:1.2em;margin:4px 0}
</style></head>
<body>
<h1>%(title)s</h1>
<pre>%(summary)s</pre>
<div class="tabs">%(buttons)s</div>
<div class="tab on" id="t-timeline"><div id="moment">hover the chart; click to pin a moment,
shift-click another to compare the two (the largest stacks of each)</div>
<svg id="chart" width="900" height="260"></svg><div id="stacks"></div></div>
%(tables)s
<script id="data" type="application/json">%(data)s</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
for (const b of document.querySelectorAll(".tabs button")) b.onclick = () => {
  for (const x of document.querySelectorAll(".tabs button,.tab")) x.classList.remove("on");
  b.classList.add("on"); document.getElementById("t-" + b.dataset.tab).classList.add("on");
};
const human = n => { const u = ["B","K","M","G","T"]; let i = 0;
  while (Math.abs(n) >= 1024 && i < 4) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + u[i]; };
const S = D.samples, svg = document.getElementById("chart"), NS = svg.namespaceURI;
const W = 900, H = 240;
const tmax = S.length ? S[S.length - 1].t || 1 : 1;
const vmax = Math.max(1, ...S.map(s => Math.max(s.live_bytes, s.rss || 0)));
const X = t => 40 + (W - 50) * t / tmax, Y = v => 10 + H - 20 - (H - 20) * v / vmax;
const colors = ["#e45756","#f58518","#eeca3b","#54a24b","#4c78a8","#b279a2","#ff9da6","#9d755d"];
function path(points, color, fill) {
  const p = document.createElementNS(NS, "path");
  p.setAttribute("d", "M" + points.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join("L"));
  p.setAttribute("stroke", color); p.setAttribute("fill", fill || "none"); svg.appendChild(p);
}
const ids = D.top_ids;
let below = S.map(() => 0);
ids.forEach((id, k) => {
  const top = S.map((s, i) => below[i] + ((s.top.find(p => p[0] === id) || [0, 0])[1]));
  const pts = S.map((s, i) => [X(s.t), Y(top[i])]).concat(
    S.map((s, i) => [X(s.t), Y(below[i])]).reverse());
  path(pts, "none", colors[k %% colors.length] + "aa"); below = top;
});
path(S.map(s => [X(s.t), Y(s.live_bytes)]), "#000");
if (S.some(s => s.rss)) path(S.filter(s => s.rss).map(s => [X(s.t), Y(s.rss)]), "#4c78a8");
const label = (x, y, text) => { const t = document.createElementNS(NS, "text");
  t.setAttribute("x", x); t.setAttribute("y", y); t.textContent = text; svg.appendChild(t); };
label(2, 14, human(vmax)); label(2, H - 6, "0"); label(W - 60, H + 14, tmax.toFixed(2) + " s");
const cursor = document.createElementNS(NS, "line");
cursor.setAttribute("y1", 10); cursor.setAttribute("y2", H - 10);
cursor.setAttribute("stroke", "#888");
svg.appendChild(cursor);
let pinned = false;
function show(i) {
  const s = S[i]; cursor.setAttribute("x1", X(s.t)); cursor.setAttribute("x2", X(s.t));
  document.getElementById("moment").textContent = s.t.toFixed(3) + " s: heap " +
    human(s.live_bytes) + (s.rss ? ", RSS " + human(s.rss) : "") + ", " + s.allocs +
    " allocations, " + s.frees + " frees";
  document.getElementById("stacks").innerHTML = "<table>" + s.top.map(([id, b]) =>
    "<tr><td class=n>" + human(b) + "</td><td class=fr>" + (D.names[id] || "stack " + id) +
    "</td></tr>").join("") + "</table>";
}
function nearest(ev) {
  const r = svg.getBoundingClientRect(), t = (ev.clientX - r.left - 40) / (W - 50) * tmax;
  let best = 0; S.forEach((s, i) => { if (Math.abs(s.t - t) < Math.abs(S[best].t - t)) best = i; });
  return best;
}
let pinA = null;
function showDiff(a, b) {
  const A = new Map(S[a].top), B = new Map(S[b].top), ids = new Set([...A.keys(), ...B.keys()]);
  const rows = [...ids].map(id => [id, (B.get(id) || 0) - (A.get(id) || 0)])
    .filter(r => r[1] !== 0).sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
  const sign = n => (n >= 0 ? "+" : "-") + human(Math.abs(n));
  document.getElementById("moment").textContent = S[a].t.toFixed(3) + " s -> " +
    S[b].t.toFixed(3) + " s: heap " + sign(S[b].live_bytes - S[a].live_bytes);
  document.getElementById("stacks").innerHTML = "<table>" + rows.map(([id, d]) =>
    "<tr><td class=n>" + sign(d) + "</td><td class=fr>" + (D.names[id] || "stack " + id) +
    "</td></tr>").join("") + "</table>";
}
svg.onmousemove = ev => { if (!pinned && S.length) show(nearest(ev)); };
svg.onclick = ev => {
  if (!S.length) return;
  const i = nearest(ev);
  if (ev.shiftKey && pinA !== null) { showDiff(pinA, i); return; }
  pinned = !pinned; pinA = pinned ? i : null; show(i);
};
</script>
</body></html>
"""


def _stack_cell(s: StackStats) -> str:
    lines = [line for f in s.frames for line in frame_text(f)] or ["(no stack)"]
    return "<br>".join(html.escape(line) for line in lines)


def _table(name: str, title: str, rows: list[StackStats]) -> str:
    body = "".join(
        f"<tr><td class=n>{html.escape(figures(name, s))}</td>"
        f"<td class=fr>{_stack_cell(s)}</td></tr>"
        for s in rows
    )
    return (f'<div class="tab" id="t-{name}"><h2>{html.escape(title)}</h2>'
            f"<table>{body or '<tr><td>none</td></tr>'}</table></div>")  # fmt: skip


def _name(s: StackStats) -> str:
    named = [f.function for f in s.frames if f.function]
    return " ← ".join(named[:3]) if named else f"stack {s.id}"


def data(r: RunReport) -> dict[str, Any]:
    samples = r.timeline.samples if r.timeline else []

    def merged(top: tuple[tuple[int, int], ...]) -> list[list[int]]:
        """A moment's largest rows summed per stack (the table keeps a row per thread)."""
        acc: dict[int, int] = {}
        for sid, b in top:
            key = r.aliases.get(sid, sid)
            acc[key] = acc.get(key, 0) + b
        return [[k, v] for k, v in sorted(acc.items(), key=lambda kv: -kv[1])]

    tops = [merged(s.top) for s in samples]
    totals: dict[int, int] = {}
    for top in tops:
        for sid, b in top:
            totals[sid] = max(totals.get(sid, 0), b)
    top_ids = sorted(totals, key=lambda i: -totals[i])[:8]
    by_id = {s.id: s for s in r.stacks}
    return {
        "samples": [
            {"t": s.t, "live_bytes": s.live_bytes, "rss": s.rss, "allocs": s.allocs,
             "frees": s.frees, "top": top}
            for s, top in zip(samples, tops, strict=True)
        ],
        "top_ids": top_ids,
        "names": {str(i): _name(by_id[i]) for i in totals if i in by_id},
    }


def write(r: RunReport, out: TextIO, top: int = 10) -> None:
    buttons = '<button class="on" data-tab="timeline">timeline</button>' + "".join(
        f'<button data-tab="{n}">{n}</button>' for n in SECTIONS
    )
    tables = "\n".join(_table(n, t, r.section(n, top)) for n, (_c, t) in SECTIONS.items())
    blob = jsonout.dumps(data(r)).replace("</", "<\\/")
    out.write(PAGE % {
        "title": html.escape(f"memlens run: {r.command_text}"),
        "summary": html.escape("\n".join(summary_lines(r))),
        "buttons": buttons,
        "tables": tables,
        "data": blob,
    })  # fmt: skip

"""One self-contained HTML page: heap numbers, the layout drawn on a canvas by the
page from packed arrays, the ownership SVG, and a details panel filled on hover
(no external resources)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict
from html import escape

import numpy as np
import numpy.typing as npt

from memlens.mpy.fragmentation import Fragmentation
from memlens.mpy.heap import MpyHeap
from memlens.mpy.objects import HeapObject, type_stats
from memlens.render import jsonout
from memlens.render.mpy_meminfo import info_lines
from memlens.render.mpy_svg import COLOURS

TEXT_EACH = 32  # characters of content shown per allocation
TEXT_BUDGET = 400_000  # characters of content in one page (an 8 MiB heap stays under 5 MB)

_CANVAS_SCRIPT = """
const D = JSON.parse(document.getElementById('heap').textContent);
const u32 = s => new Uint32Array(Uint8Array.from(atob(s), c => c.charCodeAt(0)).buffer);
const info = document.getElementById('details');
const CELL = 4, ROW = 128;
let drawn = 0;
D.areas.forEach((a, k) => {
  const block = u32(a.block), len = u32(a.len), what = u32(a.what);
  const text = a.text;
  const c = document.getElementById('area' + k);
  c.width = ROW * CELL; c.height = Math.ceil(a.blocks / ROW) * CELL;
  const g = c.getContext('2d');
  g.fillStyle = D.colours['.']; g.fillRect(0, 0, c.width, c.height);
  for (let i = 0; i < block.length; i++) {
    g.fillStyle = D.colours[D.letters[what[i] & 255]] || D.colours.h;
    for (let b = block[i], left = len[i]; left > 0;) {
      const n = Math.min(left, ROW - b % ROW);
      g.fillRect((b % ROW) * CELL, Math.floor(b / ROW) * CELL, n * CELL - (n === left ? 1 : 0),
                 CELL - 1);
      b += n; left -= n;
    }
    drawn++;
  }
  c.addEventListener('mousemove', e => {
    const r = c.getBoundingClientRect();
    const b = Math.floor((e.clientY - r.top) / CELL) * ROW
      + Math.floor((e.clientX - r.left) / CELL);
    let lo = 0, hi = block.length - 1, hit = -1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      if (block[m] <= b) { hit = m; lo = m + 1; } else hi = m - 1;
    }
    const addr = x => '0x' + (BigInt(a.pool) + BigInt(x) * BigInt(D.block_size)).toString(16);
    if (hit >= 0 && b < block[hit] + len[hit]) {
      info.textContent = addr(block[hit]) + ' ' + D.types[what[hit] >>> 8] + ', ' + len[hit] +
        ' blocks (' + len[hit] * D.block_size + ' B)' + (text[hit] ? ': ' + text[hit] : '');
    } else info.textContent = addr(b) + ' free';
  });
});
document.querySelectorAll('svg g.node').forEach(el => el.addEventListener('mouseenter', () => {
  const a = el.querySelector('a');
  info.textContent = (a && (a.getAttribute('xlink:title') || a.getAttribute('title'))) || '';
}));
document.body.dataset.ready = String(drawn);
"""


def _script_json(value: object) -> str:
    """JSON inside a <script> element: its text is not HTML-decoded, so nothing is
    entity-escaped; only a closing tag could end it early."""
    return jsonout.dumps(value).replace("</", "<\\/")


def _contents(objs: list[HeapObject]) -> list[str]:
    """Each allocation's content preview (string text, dict keys, ...), shortened, for
    as many as fit in :data:`TEXT_BUDGET` characters (in address order)."""
    out: list[str] = []
    left = TEXT_BUDGET
    for o in objs:
        text = (o.content or "")[:TEXT_EACH]
        if len(text) > left:
            text = ""
        left -= len(text)
        out.append(text)
    return out


def _b64(values: npt.NDArray[np.int64]) -> str:
    return base64.b64encode(values.astype("<u4").tobytes()).decode("ascii")


def heap_page(
    heap: MpyHeap,
    objs: list[HeapObject],
    frag: Fragmentation,
    source: str,
    graph_svg: str | Callable[[], str],
) -> str:
    """The page for one analysed heap: numbers, a canvas layout drawn by the page
    itself from packed arrays (a few bytes per allocation, so an 8 MiB heap stays a
    small page), and the ownership graph -- asked for last when given as a callable,
    so dot can lay it out while the rest is made."""
    summary = info_lines(heap.info) + (
        f"largest free run {frag.largest_free_bytes} B of {frag.free_bytes} B free, "
        f"{frag.free_runs} free runs\n")  # fmt: skip
    hd = heap.heads
    names = sorted({o.type for o in objs})
    type_idx = {n: i for i, n in enumerate(names)}
    letters = sorted(set(COLOURS))
    letter_idx = {c: i for i, c in enumerate(letters)}
    kinds = np.array([letter_idx.get("i" if o.letter == "h" and o.type.startswith("instance")
                                     else o.letter, letter_idx["h"]) for o in objs],
                     dtype=np.int64)  # fmt: skip
    types = np.array([type_idx[o.type] for o in objs], dtype=np.int64)
    texts = _contents(objs)
    areas = []
    for k, a in enumerate(heap.areas):
        sel = hd.area == k
        areas.append({"pool": str(a.pool_start), "blocks": a.n_blocks,
                      "block": _b64(hd.block[sel]), "len": _b64(hd.blocks[sel]),
                      "what": _b64(types[sel] << 8 | kinds[sel]),
                      "text": [texts[i] for i in np.flatnonzero(sel).tolist()]})  # fmt: skip
    packed = {"areas": areas, "types": names, "letters": letters, "colours": COLOURS,
              "block_size": heap.block_size}  # fmt: skip
    data: dict[str, object] = {"gc": {k: int(v) for k, v in asdict(heap.info).items()},
                               "types": [asdict(t) for t in type_stats(objs)]}  # fmt: skip
    canvases = "".join(f"<p>area {k}: pool {a.pool_start:#x}, {a.n_blocks} blocks</p>"
                       f'<canvas id="area{k}"></canvas>'
                       for k, a in enumerate(heap.areas))  # fmt: skip
    scripts = (f'<script type="application/json" id="heap">{_script_json(packed)}</script>'
               f'<script type="application/json" id="data">{_script_json(data)}</script>'
               f"<script>{_CANVAS_SCRIPT}</script>")  # fmt: skip
    svg = graph_svg if isinstance(graph_svg, str) else graph_svg()
    graph = svg[svg.index("<svg") :] if "<svg" in svg else svg
    title = f"memlens mpy: {source}"
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}pre{background:#fafafa;padding:.5em}"
        "#details{position:sticky;top:0;background:#ffe;border:1px solid #cc9;padding:.3em;"
        "font-family:monospace;min-height:1.2em}canvas{image-rendering:pixelated}</style>"
        f"</head><body><h1>{escape(title)}</h1><pre>{escape(summary)}</pre>"
        '<div id="details">hover a block for details</div>'
        f"<h2>Layout</h2>{canvases}<h2>Ownership</h2>{graph}{scripts}</body></html>\n"
    )

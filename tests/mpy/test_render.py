"""Pictures of a real heap: layout SVG (and PNG), ownership graph via dot, and
the HTML page checked in headless Chromium (its script drew every allocation)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ..conftest import need_tool
from .wasm import Capture, capture

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def heap(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    return capture(tmp_path_factory.mktemp("render") / "obj", ["objects.upy"], 65536)


def _memlens(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("memlens"))
    return subprocess.run([exe, *args], capture_output=True, text=True, check=False)


def _json(c: Capture) -> dict:  # type: ignore[type-arg]
    out = _memlens("mpy", str(c.dump), "--base", "0", "--word-size", "4", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_layout_svg_has_every_allocation(heap: Capture, tmp_path: Path) -> None:
    svg = tmp_path / "layout.svg"
    out = _memlens("mpy", str(heap.dump), "--base", "0", "--word-size", "4", "--layout", str(svg))
    assert out.returncode == 0, out.stderr
    root = ET.parse(svg).getroot()
    starts = [r.get("data-addr") for r in root.iter(f"{SVG}rect") if r.get("data-addr")]
    doc = _json(heap)
    assert sorted(int(a, 16) for a in starts) == sorted(o["address"] for o in doc["objects"])


def test_layout_png(heap: Capture, tmp_path: Path) -> None:
    need_tool("rsvg-convert")
    png = tmp_path / "layout.png"
    out = _memlens("mpy", str(heap.dump), "--base", "0", "--word-size", "4", "--layout", str(png))
    assert out.returncode == 0, out.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, _height = struct.unpack(">II", data[16:24])
    assert width == 90 + 64 * 12 + 10


def test_graph_svg_nodes_and_edges(heap: Capture, tmp_path: Path) -> None:
    need_tool("dot")
    svg = tmp_path / "graph.svg"
    dot = tmp_path / "graph.dot"
    for path in (svg, dot):
        out = _memlens("mpy", str(heap.dump), "--base", "0", "--word-size", "4", "--graph",
                       str(path))  # fmt: skip
        assert out.returncode == 0, out.stderr
    doc = _json(heap)
    n_objects = len(doc["objects"])
    # one edge per pointer: from the word of the source that holds it
    edges = {(a, b, w) for a, b, w in doc["graph"]["edges"]}
    root = ET.parse(svg).getroot()
    groups = [g for g in root.iter(f"{SVG}g")]
    nodes = [g for g in groups if g.get("class") == "node"]
    drawn_edges = [g for g in groups if g.get("class") == "edge"]
    roots = {t for _, t in doc["graph"]["roots"]}
    assert len(nodes) == n_objects + len({f"{r:#x}" for r, _ in doc["graph"]["roots"]})
    assert len(drawn_edges) == len(edges) + len({(r, t) for r, t in doc["graph"]["roots"]})
    assert roots  # a real heap is reachable from somewhere outside it


def test_html_page_in_chromium(heap: Capture, tmp_path: Path) -> None:
    chromium = need_tool("chromium")
    need_tool("dot")
    page = tmp_path / "heap.html"
    out = _memlens("mpy", str(heap.dump), "--base", "0", "--word-size", "4", "--html", str(page))
    assert out.returncode == 0, out.stderr
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-1000:]
    # the page drew every allocation on its canvas from the packed arrays
    n_objects = len(_json(heap)["objects"])
    assert f'data-ready="{n_objects}"' in dom.stdout
    assert "\"'name-7'\"" in page.read_text()  # a string's text, shown on hover
    assert "GC: total:" in dom.stdout


def _box(g: ET.Element) -> tuple[float, float, float, float] | None:
    """A drawn node's box, from its polygon (roots are plain text: None)."""
    poly = g.find(f".//{SVG}polygon")
    if poly is None:
        return None
    pts = [tuple(float(v) for v in p.split(",")) for p in (poly.get("points") or "").split()]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def test_graph_offsets_label_the_tail_of_their_own_edge(heap: Capture, tmp_path: Path) -> None:
    """Each edge is labelled with the offset of the word holding the pointer (the
    JSON's edges), drawn beside the edge's tail and over no node but
    the edge's own (label boxes from the monospace advance of 0.6 em)."""
    need_tool("dot")
    svg = tmp_path / "graph.svg"
    out = _memlens("mpy", str(heap.dump), "--base", "0", "--word-size", "4", "--graph", str(svg))
    assert out.returncode == 0, out.stderr
    doc = _json(heap)
    want = {(f"n{a:x}", f"n{b:x}", f"+{w * 4:#x}") for a, b, w in doc["graph"]["edges"]}
    groups = list(ET.parse(svg).getroot().iter(f"{SVG}g"))
    title = {id(g): g.findtext(f"{SVG}title") or "" for g in groups}
    boxes = {title[id(g)]: _box(g) for g in groups if g.get("class") == "node"}
    got = set()
    for g in groups:
        if g.get("class") != "edge" or not title[id(g)].startswith("n"):
            continue
        tail, head = title[id(g)].split("->")
        d = (g.find(f"{SVG}path").get("d") or "").lstrip("M")  # type: ignore[union-attr]
        tail_at = [float(v) for v in d.replace("C", " ").split()[0].split(",")]
        (text,) = g.iter(f"{SVG}text")
        x, y, size = (float(text.get(k) or "nan") for k in ("x", "y", "font-size"))
        # beside the tail: dot puts it 1.5 x 10 pt from there (plus half a text line)
        assert ((x - tail_at[0]) ** 2 + (y - tail_at[1]) ** 2) ** 0.5 < 20, text.text
        half = len(text.text or "") * size * 0.3
        label = (x - half, y - size * 0.76, x + half, y + size * 0.24)
        over = [name for name, b in boxes.items() if b and b[0] < label[2] and b[2] > label[0]
                and b[1] < label[3] and b[3] > label[1]]  # fmt: skip
        assert set(over) <= {tail, head}, (title[id(g)], text.text, over)
        got.add((tail, head, text.text))
    assert got == want


def test_pruned_graph_says_what_each_node_holds_that_is_not_drawn(
    heap: Capture, tmp_path: Path
) -> None:
    """With ``--graph-nodes 40`` of ~650 allocations, a drawn allocation that points at
    allocations left out says how many and their bytes, as counted from the JSON's
    edges and object sizes; the others say nothing of the kind."""
    dot = tmp_path / "g.dot"
    out = _memlens("mpy", str(heap.dump), "--base", "0", "--word-size", "4", "--graph", str(dot),
                   "--graph-nodes", "40")  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = dot.read_text()
    labels = dict(re.findall(r'^  n([0-9a-f]+) \[label="((?:[^"\\]|\\.)*)"', text, re.M))
    kept = {int(a, 16) for a in labels}
    assert len(kept) == 40
    doc = _json(heap)
    size = {o["address"]: o["size"] for o in doc["objects"]}
    left_out: dict[int, set[int]] = {}
    for a, b, _ in doc["graph"]["edges"]:
        if a in kept and b not in kept:
            left_out.setdefault(a, set()).add(b)
    assert left_out  # 40 of ~650: something is left out
    for a in kept:
        said = re.findall(r"\\n\+(\d+) not drawn \((\d+) B\)", labels[f"{a:x}"])
        held = left_out.get(a, set())
        assert said == ([(str(len(held)), str(sum(size[b] for b in held)))] if held else [])

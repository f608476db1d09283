"""Pictures of a real heap: layout SVG (and PNG), ownership graph via dot, and
the HTML page checked in headless Chromium (its script drew every allocation)."""

from __future__ import annotations

import json
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

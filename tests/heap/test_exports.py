"""Every heap export opens in its real tool: go tool pprof, speedscope's schema, Chromium."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
from heap_helpers import build, need_tool, report_of

from memlens.cli.main import main
from memlens.heap.report import HeapReport
from memlens.heap.runner import RunOptions, run_under_shim

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "node_modules" / "speedscope" / "dist" / "release" / "file-format-schema.json"

DEMO = r"""
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) void *leaf_alloc(size_t n) {
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}
__attribute__((noinline)) void big_cache(void) { leaf_alloc(3 << 20); }
__attribute__((noinline)) void many_rows(void) { for (int i = 0; i < 1000; ++i) leaf_alloc(1000); }
int main(void) { big_cache(); many_rows(); return 0; }
"""


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("exports")
    exe = build(DEMO, d / "demo")
    result = run_under_shim([str(exe)], RunOptions(out_dir=str(d / "out")))
    assert [s.reason for s in result.snapshots] == ["exit"]
    return Path(result.snapshots[0].path)


@pytest.fixture(scope="module")
def report(snapshot: Path) -> HeapReport:
    from memlens.heap.profile_file import read

    return report_of(read(str(snapshot)))


def test_pprof_top_from_go_tool_pprof(snapshot: Path, tmp_path: Path) -> None:
    go = need_tool("go")
    out = tmp_path / "heap.pb.gz"
    assert main(["heap", str(snapshot), "--as", "pprof", "-o", str(out)]) == 0
    assert gzip.decompress(out.read_bytes())[:1] == b"\x0a"  # field 1 (sample_type) first
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "GOCACHE": str(tmp_path / "gocache")}
    top = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=inuse_space", str(out)],
                         capture_output=True, text=True, env=env, check=True).stdout  # fmt: skip
    flat = {line.split()[-1]: line.split()[0] for line in top.splitlines()
            if line.strip().endswith(("big_cache", "many_rows", "leaf_alloc"))}  # fmt: skip
    # 3 MiB + 1000 x 1000 B, all allocated in the leaf: 4145728 B = 4048.56 kB
    assert flat["leaf_alloc"] == "4048.56kB"
    cmd = [go, "tool", "pprof", "-top", "-sample_index=inuse_objects", str(out)]
    objects = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    line = next(x for x in objects.splitlines() if x.strip().endswith("leaf_alloc"))
    assert line.split()[0] == "1001"


def test_speedscope_matches_the_published_schema(snapshot: Path, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.exists():
        pytest.skip("npm package speedscope missing (scripts/setup --test runs npm ci)")
    out = tmp_path / "heap.speedscope.json"
    assert main(["heap", str(snapshot), "--as", "speedscope", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    names = [f["name"] for f in doc["shared"]["frames"]]
    prof = doc["profiles"][0]
    pairs = zip(prof["samples"], prof["weights"], strict=True)
    weight = {tuple(names[i] for i in s): w for s, w in pairs}
    cache = next(w for s, w in weight.items() if s[-2:] == ("big_cache", "leaf_alloc"))
    assert cache == 3 << 20


def test_folded_and_tree(snapshot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", str(snapshot), "--as", "folded"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(x.endswith(";main;big_cache;leaf_alloc 3145728") for x in lines), lines
    assert any(x.endswith(";main;many_rows;leaf_alloc 1000000") for x in lines), lines
    assert main(["heap", str(snapshot), "--as", "tree"]) == 0
    tree = capsys.readouterr().out
    assert "big_cache" in tree and "many_rows" in tree


def test_json_report(snapshot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", str(snapshot), "--as", "json", "--function", "many_rows"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "heap" and doc["schema_version"] == 1
    (group,) = doc["groups"]
    assert (group["bytes"], group["blocks"], set(group["sizes"])) == (1000000, 1000, {1000})
    assert [f["function"] for f in group["frames"][:3]] == ["leaf_alloc", "many_rows", "main"]


@pytest.mark.slow
def test_html_flame_graph_renders_and_zooms_in_chromium(snapshot: Path, tmp_path: Path) -> None:
    from cdp import Browser

    chromium = need_tool("chromium")
    page = tmp_path / "heap.html"
    assert main(["heap", str(snapshot), "--as", "html", "-o", str(page)]) == 0
    browser = Browser(chromium)
    try:
        browser.open(page.as_uri())
        names = browser.eval("[...document.querySelectorAll('.f')].map(e => e.dataset.name)")
        assert names[0] == "all live heap"
        assert {"main", "big_cache", "many_rows", "leaf_alloc"} <= set(names)
        width = browser.eval("document.getElementById('graph').clientWidth")
        rect = browser.eval(
            "(() => { const r = [...document.querySelectorAll('.f')].find("
            "e => e.dataset.name === 'many_rows').getBoundingClientRect();"
            " return [r.x, r.y, r.width, r.height]; })()"
        )
        assert rect[2] < 0.5 * width  # 1 MB of ~4 MB
        browser.click(rect[0] + rect[2] / 2, rect[1] + rect[3] / 2)
        assert browser.eval("document.body.dataset.focus") == "many_rows"
        zoomed = browser.eval(
            "[...document.querySelectorAll('.f')].find(e => e.dataset.name === 'many_rows')"
            ".getBoundingClientRect().width"
        )
        assert abs(zoomed - width) <= 1
        shown = browser.eval("[...document.querySelectorAll('.f')].map(e => e.dataset.name)")
        assert "big_cache" not in shown and "leaf_alloc" in shown
    finally:
        browser.close()


def test_min_size_and_top_filters(snapshot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heap", str(snapshot), "--as", "json", "--min-size", "4096"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [g["bytes"] for g in doc["groups"]] == [3 << 20]
    assert main(["heap", str(snapshot), "--as", "json", "--top", "1"]) == 0
    (top,) = json.loads(capsys.readouterr().out)["groups"]
    assert top["frames"][1]["function"] == "big_cache"

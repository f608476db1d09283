"""``memlens demo``: the built-in main job on a process it starts and always kills."""

from __future__ import annotations

import json
import os

import pytest
from tests.conftest import need_root

from memlens.cli.main import main

PAGE = os.sysconf("SC_PAGE_SIZE")


def test_demo_shows_its_process_and_kills_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    out = capsys.readouterr().out
    decoder = json.JSONDecoder()
    maps, end = decoder.raw_decode(out)
    summary, _ = decoder.raw_decode(out[end:].lstrip())
    assert maps["kind"] == "maps" and summary["kind"] == "pages-summary"
    pid = int(maps["target"])
    assert not os.path.exists(f"/proc/{pid}")
    # 64 MiB anonymous, every other page of the first half written: 4096 pages,
    # the mlocked first page split off into a region of its own
    big = [r for r in maps["regions"] if r["kind"] == "anon" and r["size"] >= 63 << 20]
    assert len(big) == 1
    start = big[0]["start"]
    locked = [r for r in maps["regions"] if r["end"] == start and r["size"] == PAGE]
    assert big[0]["resident_pages"] + sum(r["resident_pages"] for r in locked) == 4096
    data = [r for r in maps["regions"] if r["name"].endswith("/demo data.bin")]
    assert len(data) == 1 and data[0]["resident_pages"] >= 4


def test_demo_summary_has_the_mlocked_page(capsys: pytest.CaptureFixture[str]) -> None:
    need_root()
    assert main(["demo", "--json"]) == 0
    out = capsys.readouterr().out
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(out)
    summary, _ = decoder.raw_decode(out[end:].lstrip())
    unevictable = [g for g in summary["totals"] if "UNEVICTABLE" in g["flag_names"]]
    assert sum(g["pages"] for g in unevictable) == 1

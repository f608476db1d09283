"""``pages --json`` / ``--ndjson``: the C-made page objects equal the Python reference."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.render.test_pagelines import PAGE, make, page_runs

from memlens.analyses.pages import RegionPages
from memlens.core.region import Region, RegionKind
from memlens.render import pagejson


@settings(max_examples=150, deadline=None)
@given(page_runs, st.data())
def test_json_objects_equal_the_python_reference(runs: list[tuple[int, int]],
                                                 data: st.DataObject) -> None:  # fmt: skip
    entries = [e for e, n in runs for _ in range(n)]
    n = len(entries)
    flags = data.draw(st.one_of(st.none(), st.lists(st.integers(0, 2**64 - 1), min_size=n,
                                                    max_size=n)))  # fmt: skip
    counts = data.draw(st.one_of(st.none(), st.lists(st.integers(0, 2**64 - 1), min_size=n,
                                                     max_size=n)))  # fmt: skip
    top = data.draw(st.sampled_from([0, 0x10000, 2**64 - 2**20]))
    t = make(entries, flags=flags, counts=counts, start=min(top, 2**64 - n * PAGE))
    if data.draw(st.booleans(), label="pfn hidden"):
        t.unavailable = {"pfn": "r", "count": "r", "flags": "r"}
    raw = data.draw(st.booleans(), label="raw")
    region = Region(t.start, t.start + max(n, 1) * PAGE, kind=RegionKind.ANON)
    rp = RegionPages(region, t)
    expected = pagejson.region_json(rp, raw)
    saved = pagejson.BLOCK_PAGES
    pagejson.BLOCK_PAGES = data.draw(st.sampled_from([1, 3, 1 << 14]), label="block")
    try:
        out = io.BytesIO()
        pagejson.write_pages_json(out, {"target": "t"}, [rp, rp], raw)
        doc = json.loads(out.getvalue())
        lines = io.BytesIO()
        pagejson.write_pages_ndjson(lines, {"target": "t"}, [rp], raw)
    finally:
        pagejson.BLOCK_PAGES = saved
    assert doc["regions"] == [expected, expected]
    objects = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert objects[0]["type"] == "pages" and objects[1]["type"] == "region"
    assert [{k: v for k, v in o.items() if k != "type"} for o in objects[2:]] == expected["pages"]

"""``symbolize --json`` rows written from the frame layout's pieces: the same bytes as
encoding the rows one by one, whatever the batch holds."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

import numpy as np
import pytest

from memlens.render import jsonout
from memlens.render.symbolize_out import batch_json, batch_json_chunks, json_rows
from memlens.symbols.frame import Frame
from memlens.symbols.framebatch import Callers, FrameBatch

LIB = "/usr/lib/libdemo.so"
ODD = b"/tmp/caf\xe9\xff/\"q\"\\.c".decode("utf-8", "surrogateescape")  # escapes, surrogates


def _batch() -> FrameBatch:
    """Seven distinct addresses asked out of order and repeated: every kind of row."""
    unique = np.array([0x1000, 0x1010, 0x1020, 0x1030, 0x1040, 0x2000, 0x9999], np.uint64)
    asked = np.array([0x1030, 0x1000, 0x9999, 0x1030, 0x1010, 0x2000, 0x1040, 0x1020,
                      0x1000], np.uint64)  # fmt: skip
    inverse = np.searchsorted(unique, asked).astype(np.int64)
    frame_callers = (Frame(0x1040, LIB, 0x40, "outer", 7, "/src/o.c", 9),
                     Frame(0x1040, LIB, 0x40, "top\udcff", None, None, None))  # fmt: skip
    located = {
        0: ("/src/a.c", 12, Callers(0x1000, LIB, 0, (("solo", 4, "/src/s.c", 8),))),
        1: ("/src/a.c", None, ()),  # a file without a line
        2: (ODD, 3, Callers(0x1020, LIB, 0x20, (("mid", None, "/src/m.c", 4),
                                                 ("caller", 0x11, "/src/c.c", None)))),
        4: ("/src/i.c", 1, frame_callers),  # callers kept as frames
        5: (None, None, ()),
    }  # fmt: skip
    return FrameBatch(
        asked, unique, inverse, paths=[LIB, ODD], bases=np.array([0x1000, 0x2000], np.uint64),
        module=np.array([0, 0, 0, 0, 0, 1, -1], np.int64),
        function=np.array(["f", "g\u00e9", "inner", None, "h", "k", None], object),
        function_offset=np.array([0, 5, 2, 0, 0x100, 3, 0], np.int64),
        has_offset=np.array([True, True, True, False, True, True, False]),
        located=located, notes={3: "padding after f", 6: ODD},
    )  # fmt: skip


def _document(rows: Iterable[bytes]) -> bytes:
    out = io.BytesIO()
    text = io.TextIOWrapper(out)  # kept: collecting it would close ``out``
    jsonout.dump("symbolize", {"target": "t", "warnings": []}, text, rows=("frames", rows))
    return out.getvalue()


@pytest.mark.parametrize("size", [1, 2, 4096])
def test_chunks_are_the_rows_encoded_one_by_one(size: int) -> None:
    batch = _batch()
    rows = batch_json(batch)
    assert rows == json_rows(batch.frames())
    chunks = list(batch_json_chunks(batch, size))
    assert len(chunks) == -(-len(rows) // size)
    assert b",\n".join(chunks) == b",\n".join(jsonout.encode_row(r) for r in rows)
    whole = io.BytesIO()
    text = io.TextIOWrapper(whole)
    jsonout.dump("symbolize", {"target": "t", "warnings": [], "frames": rows}, text)
    assert _document(iter(chunks)) == whole.getvalue()


def test_rows_hold_what_the_frames_say() -> None:
    rows = json.loads(b"[" + b",\n".join(batch_json_chunks(_batch())) + b"]")
    assert rows == json.loads(jsonout.encode(batch_json(_batch())))
    assert [r["address"] for r in rows] == [0x1030, 0x1000, 0x9999, 0x1030, 0x1010, 0x2000,
                                            0x1040, 0x1020, 0x1000]  # fmt: skip
    assert rows[0]["note"] == "padding after f" and rows[0]["function_offset"] is None
    assert rows[2]["module"] is None and rows[2]["note"] == "/tmp/caf\\xe9\\xff/\"q\"\\.c"
    assert rows[5]["module_offset"] == 0 and rows[5]["file"] is None
    assert [c["function"] for c in rows[6]["inlined_by"]] == ["outer", "top\\xff"]
    assert [c["line"] for c in rows[7]["inlined_by"]] == [4, None]
    assert rows[1]["inlined_by"] == [{"address": 0x1000, "module": LIB, "module_offset": 0,
                                      "function": "solo", "function_offset": 4,
                                      "file": "/src/s.c", "line": 8, "inlined_by": []}]
    assert rows[8] == rows[1] and rows[4]["inlined_by"] == []  # fmt: skip


def test_an_empty_batch_is_an_empty_list() -> None:
    batch = _batch()
    none = FrameBatch(batch.addresses[:0], batch.unique[:0], batch.inverse[:0],
                      paths=[], bases=batch.bases[:0], module=batch.module[:0],
                      function=batch.function[:0], function_offset=batch.function_offset[:0],
                      has_offset=batch.has_offset[:0], located={})  # fmt: skip
    assert list(batch_json_chunks(none)) == []
    assert b'"frames": []' in _document(batch_json_chunks(none))

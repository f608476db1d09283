"""The one JSON encoder: what a strict parser gets back, for the values memlens outputs."""

from __future__ import annotations

import dataclasses
import enum
import io
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memlens.render import jsonout


def strict_loads(data: bytes) -> Any:
    """Python's parser made strict: UTF-8 only, no NaN/Infinity, no duplicate keys."""

    def no_constant(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys))
        return dict(pairs)

    return json.loads(data.decode("utf-8", "strict"), parse_constant=no_constant,
                      object_pairs_hook=unique)  # fmt: skip


def test_bytes_that_were_not_utf8_become_backslash_x_text() -> None:
    name = b"/tmp/caf\xe9-\xff.so".decode("utf-8", "surrogateescape")
    data = jsonout.encode({"path": name, name: 1})
    assert strict_loads(data) == {"path": "/tmp/caf\\xe9-\\xff.so", "/tmp/caf\\xe9-\\xff.so": 1}


def test_a_surrogate_that_is_not_a_byte_is_written_as_its_code() -> None:
    assert strict_loads(jsonout.encode(["a\ud800b"])) == ["a\\ud800b"]


def test_nan_and_infinities_are_null() -> None:
    assert strict_loads(jsonout.encode([float("nan"), float("inf"), -float("inf"), 0.5])) == [
        None, None, None, 0.5]  # fmt: skip


def test_integers_beyond_64_bits_are_exact() -> None:
    big = (1 << 70) + 3
    assert strict_loads(jsonout.encode({"a": big, "b": [-(1 << 65)], "c": "\udcff"})) == {
        "a": big, "b": [-(1 << 65)], "c": "\\xff"}  # fmt: skip


def test_keys_sorted_and_integer_keys_as_strings() -> None:
    data = jsonout.encode({"b": 1, "a": {"y": 2, "x": 3}, 6: 4})
    assert list(strict_loads(data)) == ["6", "a", "b"]
    assert data == b'{"6":4,"a":{"x":3,"y":2},"b":1}'


class Kind(enum.Enum):
    HEAP = "heap"


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    start: int
    kind: Kind
    name: str


def test_numpy_dataclasses_enums_and_tuples() -> None:
    doc = {
        "array": np.array([1, 2, 0xFFFF_FFFF_FFFF_FFFF], dtype=np.uint64),
        "scalar": np.int64(-5), "flag": np.bool_(True), "pair": (1, "x"),
        "row": Row(0x7F00, Kind.HEAP, "[heap]"),
    }  # fmt: skip
    assert strict_loads(jsonout.encode(doc)) == {
        "array": [1, 2, 0xFFFF_FFFF_FFFF_FFFF], "scalar": -5, "flag": True, "pair": [1, "x"],
        "row": {"start": 0x7F00, "kind": "heap", "name": "[heap]"},
    }  # fmt: skip


def test_the_slow_path_keeps_numpy_and_dataclasses() -> None:
    doc = {"row": Row(1, Kind.HEAP, "\udcfe"), "a": np.arange(3), "big": 1 << 64}
    assert strict_loads(jsonout.encode(doc)) == {
        "row": {"start": 1, "kind": "heap", "name": "\\xfe"}, "a": [0, 1, 2], "big": 1 << 64}


def test_a_value_without_json_form_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        jsonout.encode({"s": {1, 2}})


def test_dump_tags_the_document_and_ends_with_a_newline() -> None:
    out = io.StringIO()  # no .buffer: written as text
    jsonout.dump("maps", {"regions": [{"name": "[stack]"}]}, out)
    text = out.getvalue()
    assert text.endswith("}\n") and text.count("\n") > 1  # indented for people
    assert json.loads(text) == {"schema_version": 1, "kind": "maps",
                                "regions": [{"name": "[stack]"}]}  # fmt: skip


def test_dump_after_text_on_the_same_stream_keeps_the_order() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    out.write("before\n")  # still in the text layer's buffer
    jsonout.dump("x", {}, out)
    out.flush()
    assert raw.getvalue().decode().splitlines()[0] == "before"


@pytest.mark.parametrize("count", [0, 1, 3])
def test_dump_with_encoded_rows_writes_the_same_bytes(count: int) -> None:
    rows = [{"b": i, "a": {"nested": [i, None, "\udcff"], "frames": []}, "f": 0.5}
            for i in range(count)]  # fmt: skip
    if count > 1:
        rows[1]["b"] = 1 << 70  # the standard library's encoder writes this row
    payload = {"target": "x", "warnings": ["w"], "zz": {"frames": []}}
    whole, spliced = io.BytesIO(), io.BytesIO()
    out_whole, out_spliced = io.TextIOWrapper(whole), io.TextIOWrapper(spliced)
    jsonout.dump("symbolize", {**payload, "frames": rows}, out_whole)
    jsonout.dump("symbolize", payload, out_spliced,
                 rows=("frames", [jsonout.encode_row(r) for r in rows]))  # fmt: skip
    assert spliced.getvalue() == whole.getvalue()
    doc = strict_loads(spliced.getvalue())
    assert doc["frames"] == [{"b": 1 << 70 if i == 1 else i,
                              "a": {"nested": [i, None, "\\xff"], "frames": []},
                              "f": 0.5} for i in range(count)]  # fmt: skip
    assert doc["zz"] == {"frames": []}


@pytest.mark.parametrize("write_size", [1, 100, 1 << 20])
def test_dump_writes_chunks_of_rows_as_they_come(
    write_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonout, "_WRITE_SIZE", write_size)
    rows = [{"i": i, "name": "\udcff" if i == 3 else f"r{i}"} for i in range(7)]
    encoded = [jsonout.encode_row(r) for r in rows]
    chunks = iter([b",\n".join(encoded[:3]), encoded[3], b",\n".join(encoded[4:])])
    whole, spliced = io.BytesIO(), io.BytesIO()
    out_whole, out_spliced = io.TextIOWrapper(whole), io.TextIOWrapper(spliced)
    jsonout.dump("x", {"frames": rows}, out_whole)
    jsonout.dump("x", {}, out_spliced, rows=("frames", chunks))
    assert spliced.getvalue() == whole.getvalue()


def test_a_row_template_filled_is_the_encoded_row() -> None:
    row = {"b": jsonout.slot("b"), "a": [{"y": jsonout.slot("y"), "x": []}], "c": 1,
           "d": jsonout.slot("d")}  # fmt: skip
    pieces, names = jsonout.row_template(row)
    assert names == ["y", "b", "d"]  # in the order written (keys sorted)
    values = {"y": "caf\u00e9 \"\udcfe\"", "b": None, "d": 1 << 63}
    filled = pieces[0] + "".join(jsonout.value_text(values[n]) + p
                                 for n, p in zip(names, pieces[1:], strict=True))  # fmt: skip
    assert filled.encode() == jsonout.encode_row(
        {"b": None, "a": [{"y": values["y"], "x": []}], "c": 1, "d": 1 << 63})


def test_write_lines_is_ndjson_in_batches() -> None:
    out = io.StringIO()
    rows = ({"i": i, "name": "\udcff" if i == 2 else "ok"} for i in range(10))
    jsonout.write_lines(rows, out, batch=3)
    lines = out.getvalue().splitlines()
    assert [strict_loads(line.encode()) for line in lines] == [
        {"i": i, "name": "\\xff" if i == 2 else "ok"} for i in range(10)]


def test_only_jsonout_encodes_json_output() -> None:
    """Every JSON memlens outputs is encoded here; the exceptions are below the render layer.

    A core's memlens page note and a .mlheap header hold a small JSON header
    inside a binary format that sources/ and heap/ write (they cannot import
    render/); everything else that says ``json.dump`` is a mistake.
    """
    from tests.conftest import ROOT

    below_render = {"sources/elfcore/pagenote.py", "heap/profile_file.py"}
    src = ROOT / "src" / "memlens"
    encoders = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                      if "json.dump" in p.read_text())  # fmt: skip
    assert encoders == sorted({"render/jsonout.py", *below_render})


# plain JSON values: what encode_plain is for (dicts with string keys, lists, str, int,
# bool, None), including names with bytes that were not UTF-8
_plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.text() | st.binary(max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape")),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(_plain_values, st.booleans())
def test_encode_plain_writes_the_bytes_encode_writes(value: Any, indent: bool) -> None:
    assert jsonout.encode_plain(value, indent=indent) == jsonout.encode(value, indent=indent)


@given(_plain_values.filter(lambda v: _orjson_takes(v)), st.booleans())
def test_encode_plain_writes_the_bytes_orjson_writes(value: Any, indent: bool) -> None:
    import orjson

    options = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    assert jsonout.encode_plain(value, indent=indent) == orjson.dumps(value, option=options)


def _orjson_takes(value: Any) -> bool:
    """Whether orjson encodes ``value`` as it is (no lone surrogate, no integer past 64 bits)."""
    import orjson

    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


def test_encode_plain_leaves_floats_and_tuples_to_orjson() -> None:
    # the standard library spells 1e-7 "1e-07"; orjson, the one encoder, "1e-7"
    assert jsonout.encode_plain({"a": 1e-7, "b": (1, 2)}) == b'{"a":1e-7,"b":[1,2]}'

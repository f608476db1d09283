"""The one JSON encoder of memlens: fast (orjson), deterministic, valid for strict parsers.

Every JSON memlens writes -- ``--json`` documents, heap exports, JSON embedded
in HTML -- is encoded by :func:`encode`:

- keys sorted, so output is deterministic; integer keys are written as strings;
- numpy arrays and scalars, dataclasses, enums and tuples are accepted as they are;
- NaN and infinities become ``null`` (strict parsers reject ``NaN``);
- strings holding lone surrogates -- bytes that were not UTF-8, decoded with
  ``surrogateescape`` (paths, symbol names) -- are written as ``\\xff`` text,
  the way text output shows them, instead of being invalid UTF-8;
- integers beyond 64 bits, which orjson refuses, are written exactly by the
  standard library's encoder.

Documents carry ``schema_version`` and ``kind`` (:func:`dump`); big, row-shaped
outputs can be streamed one object per line (:func:`write_lines`, NDJSON), or
encoded a row at a time as they are made (:func:`encode_row`) and spliced into
the document (``dump(..., rows=...)``, written a megabyte at a time): the same
bytes as encoding the document whole, but each row is encoded while it is still
in the cache -- an encoder walking 100k objects in an order other than the one
they were made in (rows reordered to the order asked) was four times slower.
Rows of one fixed shape need no object at all: :func:`row_template` cuts a row
encoded with :func:`slot` placeholders into the text around its values, and the
rows are written by filling in each value's :func:`value_text` (``symbolize
--json``: 100k frames).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable

from memlens.render.textout import escape_char

# not typing.TYPE_CHECKING: typing is ~3 ms of `memlens maps PID --json`, whose
# budget beside the text output is ~12 ms (see memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import IO, Any

SCHEMA_VERSION = 1

_SURROGATE: re.Pattern[str] | None = None  # compiled on first use: rare, and start-up counts
_orjson: ModuleType | None = None


def _encoder(indent: bool = False) -> tuple[ModuleType, int]:
    """orjson and the options for a document (compact, or indented by two spaces
    with ``indent``), imported on first use.

    Imported here, not with this module: orjson loads dataclasses, uuid and
    inspect, start-up that the text output of the verbs importing this never needs.
    """
    global _orjson
    if _orjson is None:
        import orjson

        _orjson = orjson
    options = _orjson.OPT_SORT_KEYS | _orjson.OPT_NON_STR_KEYS | _orjson.OPT_SERIALIZE_NUMPY
    if indent:
        options |= _orjson.OPT_INDENT_2
    return _orjson, options


def encode(obj: Any, *, indent: bool = False) -> bytes:
    """``obj`` as UTF-8 JSON bytes (no trailing newline).

    Raises:
        TypeError: ``obj`` holds a value that has no JSON form (a set, bytes...).
    """
    orjson, options = _encoder(indent)
    try:
        data: bytes = orjson.dumps(obj, option=options)
    except orjson.JSONEncodeError:
        # rare: lone surrogates or huge integers; re-encode a cleaned copy
        return _encode_slow(_clean(obj), indent)
    return data


def dumps(obj: Any, *, indent: bool = False) -> str:
    """``obj`` as JSON text (see :func:`encode`)."""
    return encode(obj, indent=indent).decode("utf-8")


def encode_plain(obj: Any, *, indent: bool = False) -> bytes:
    """:func:`encode` for a value made of dicts with string keys, lists, strings, integers,
    booleans and None only -- the same bytes, written by the standard library's json.

    For small documents of commands whose start-up is most of their time (``maps``,
    ``procs``): importing json costs ~1 ms, orjson ~8 ms (it loads dataclasses, uuid
    and inspect).  Anything else (a float, a tuple, a numpy value, a string with a lone
    surrogate) goes to :func:`encode`.
    """
    import json

    text: str | None = None
    if indent:
        # json indents with its pure-Python encoder (the C one only writes compact
        # JSON): 11 ms for `maps --json` of a small process, this writer 3 ms
        from json.encoder import encode_basestring

        parts: list[str] = []
        try:
            _indented(obj, "\n", parts, encode_basestring)
            text = "".join(parts)
        except _NotPlain:
            pass
    elif _plain(obj):
        text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    if text is not None:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: encode() writes it as text shows it
    return encode(obj, indent=indent)


class _NotPlain(Exception):
    """A value :func:`encode_plain` leaves to :func:`encode`."""


def _indented(obj: Any, newline: str, out: list[str], quoted: Callable[[str], str]) -> None:
    """Append ``obj`` as JSON indented by two spaces a level (``newline``: a newline and
    the current level's indent), as ``json.dumps(indent=2, sort_keys=True)`` writes it.

    Raises:
        _NotPlain: ``obj`` holds something other than plain values (see _plain).
    """
    kind = type(obj)
    if kind is str:
        out.append(quoted(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(obj))
    elif kind is dict:
        if not obj:
            out.append("{}")
            return
        inner = newline + "  "
        sep = "{" + inner
        for key in sorted(obj):
            if type(key) is not str:
                raise _NotPlain
            out.append(sep + quoted(key) + ": ")
            _indented(obj[key], inner, out, quoted)
            sep = "," + inner
        out.append(newline + "}")
    elif kind is list:
        if not obj:
            out.append("[]")
            return
        inner = newline + "  "
        sep = "[" + inner
        for item in obj:
            out.append(sep)
            _indented(item, inner, out, quoted)
            sep = "," + inner
        out.append(newline + "]")
    else:
        raise _NotPlain


def _plain(obj: Any) -> bool:
    """Whether ``obj`` holds only what json and orjson write alike (no float: their
    spellings differ, e.g. ``1e-07`` and ``1e-7``)."""
    if obj is None or isinstance(obj, (str, int)):  # bool is an int
        return True
    if type(obj) is dict:
        return all(type(k) is str and _plain(v) for k, v in obj.items())
    if type(obj) is list:
        return all(_plain(v) for v in obj)
    return False


def dump(kind: str, payload: dict[str, Any], stream: IO[str] | None = None, *, indent: bool = True,
         plain: bool = False, rows: tuple[str, Iterable[bytes]] | None = None) -> None:  # fmt: skip
    """Write ``payload`` as one JSON document tagged with its kind and schema version.

    Indented, unless ``indent`` is False (a file of many MB for programs to read).
    ``plain``: a payload :func:`encode_plain` can write.  ``rows=(key, encoded)``: the
    document's top-level list ``key`` holds these rows, already encoded as
    :func:`encode_row` writes them -- each item one row, or several joined by
    ``b",\n"`` (``payload`` must not have ``key``).  They are written about a
    megabyte at a time as the iterable gives them, never joined whole.
    """
    doc = {"schema_version": SCHEMA_VERSION, "kind": kind, **payload}
    if rows is None:
        data = encode_plain(doc, indent=indent) if plain else encode(doc, indent=indent)
        _write(data + b"\n", stream)
        return
    key, encoded = rows
    doc[key] = []
    text = encode(doc, indent=True)
    # a top-level key is the only one indented by exactly two spaces
    empty = b'\n  "' + encode(key)[1:-1] + b'": []'
    at = text.index(empty) + len(empty) - 1
    items = iter(encoded)
    first = next(items, None)
    if first is None:
        _write(text + b"\n", stream)
        return
    _write(text[:at] + b"\n", stream)
    # a megabyte at a time: joining tens of megabytes whole would copy them twice more
    # into memory the process has to fault in
    pending, size = [first], len(first)
    for item in items:
        if size >= _WRITE_SIZE:
            _write(b",\n".join(pending), stream)
            pending, size = [b""], 0  # the next row's ",\n" first
        pending.append(item)
        size += len(item)
    _write(b",\n".join(pending), stream)
    _write(b"\n  " + text[at:] + b"\n", stream)


_WRITE_SIZE = 1 << 20


#: what a row sits between in ``{"k": [row]}`` encoded with indent: rows are encoded
#: inside that wrapper, so the encoder indents them as a document's rows (no re-indenting)
_ROW_PROBE = b'{\n  "k": [\n    0\n  ]\n}'
_ROW_HEAD = _ROW_PROBE.index(b"[\n") + 2
_ROW_TAIL = len(_ROW_PROBE) - _ROW_PROBE.rindex(b"\n  ]")


def encode_row(obj: Any) -> bytes:
    """``obj`` encoded as a row of a top-level list of a :func:`dump` document (``rows=``),
    indented as it stands there."""
    data = encode({"k": [obj]}, indent=True)
    return data[_ROW_HEAD : len(data) - _ROW_TAIL]


#: a slot's marker, ``"\ue000NAME\ue001"``: private-use characters, which orjson writes as
#: they are, around the slot's name
_SLOT_OPEN, _SLOT_CLOSE = "\ue000", "\ue001"


def slot(name: str) -> str:
    """A placeholder for the value called ``name`` in a row given to :func:`row_template`."""
    return f"{_SLOT_OPEN}{name}{_SLOT_CLOSE}"


def row_template(row: Any) -> tuple[list[str], list[str]]:
    """``row``, holding :func:`slot` placeholders, as :func:`encode_row` writes it, cut at
    the placeholders: the text around them (one piece more than there are slots) and
    the slots' names in the order they stand.

    Rows of one fixed shape (100k ``symbolize`` frames) are then written by joining the
    pieces with each value's :func:`value_text` -- the bytes :func:`encode_row` gives,
    without building and encoding an object per row.
    """
    text = encode_row(row).decode("utf-8")
    head, *parts = text.split(f'"{_SLOT_OPEN}')
    pieces, names = [head], []
    for part in parts:
        name, sep, rest = part.partition(f'{_SLOT_CLOSE}"')
        if not sep:
            raise ValueError(f"a slot name is written escaped: {name!r}")
        names.append(name)
        pieces.append(rest)
    return pieces, names


def value_text(value: Any) -> str:
    """``value`` as the text :func:`encode` writes for it, to fill a :func:`row_template`
    slot (a value without line breaks in its JSON: a string, a number, null)."""
    return encode(value).decode("utf-8")


def write_lines(rows: Iterable[Any], stream: IO[str] | None = None, *, batch: int = 4096) -> None:
    """Stream ``rows`` as NDJSON: one compact JSON value per line, written in batches.

    For outputs too big to build as one document; a reader that stops early
    (``| head``) stops the writing at the next batch.
    """
    pending: list[bytes] = []
    for row in rows:
        pending.append(encode(row))
        if len(pending) >= batch:
            _write(b"\n".join(pending) + b"\n", stream)
            pending.clear()
    if pending:
        _write(b"\n".join(pending) + b"\n", stream)


def _write(data: bytes, stream: IO[str] | None) -> None:
    out = stream if stream is not None else sys.stdout
    raw = getattr(out, "buffer", None)
    if raw is not None:
        out.flush()  # text already written to the stream goes first
        raw.write(data)
        raw.flush()
    else:
        out.write(data.decode("utf-8"))


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate as an escape: ``\\udcff`` (a byte) as ``\\xff``."""
    global _SURROGATE
    if _SURROGATE is None:
        _SURROGATE = re.compile("[\ud800-\udfff]")
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(m: re.Match[str]) -> str:
    return escape_char(m.group())


def _clean(obj: Any) -> Any:
    """A copy of ``obj`` with strings cleaned and non-finite floats as None."""
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {(_clean(k) if isinstance(k, str) else k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {name: _clean(getattr(obj, name)) for name in obj.__dataclass_fields__}
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _clean(obj.tolist())
    return obj


def _encode_slow(obj: Any, indent: bool) -> bytes:
    orjson, options = _encoder(indent)
    try:
        data: bytes = orjson.dumps(obj, option=options)
    except orjson.JSONEncodeError:
        import json

        text = json.dumps(_str_keys(obj), sort_keys=True, ensure_ascii=False, allow_nan=False,
                          indent=2 if indent else None, default=_default,
                          separators=None if indent else (",", ":"))  # fmt: skip
        return text.encode("utf-8")
    return data


def _str_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: _str_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_str_keys(v) for v in obj]
    return obj


def _default(obj: Any) -> Any:
    value = getattr(obj, "value", None)  # enums
    if value is not None:
        return value
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")

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
outputs can be streamed one object per line (:func:`write_lines`, NDJSON).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from memlens.render.textout import escape_char

if TYPE_CHECKING:
    from types import ModuleType

SCHEMA_VERSION = 1

_SURROGATE = re.compile("[\ud800-\udfff]")
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


def dump(
    kind: str, payload: dict[str, Any], stream: IO[str] | None = None, *, indent: bool = True
) -> None:
    """Write ``payload`` as one JSON document tagged with its kind and schema version
    (indented, unless ``indent`` is False: a file of many MB for programs to read)."""
    doc = {"schema_version": SCHEMA_VERSION, "kind": kind, **payload}
    _write(encode(doc, indent=indent) + b"\n", stream)


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
                          indent=2 if indent else None, default=_default)  # fmt: skip
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

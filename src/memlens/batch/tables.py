"""The tables of a batch dataset: names, columns and their Arrow types.

Every row carries ``key`` (the input's content key) and every table
``schema_version``; a change to a table's columns bumps :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION = 1

#: table -> ((column, arrow type name), ...); "key" first in every table
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "dumps": (
        ("key", "string"), ("path", "string"), ("analysis", "string"), ("format", "string"),
        ("arch", "string"), ("pid", "int64"), ("command_line", "string"),
        ("time", "float64"), ("crash_reason", "string"), ("crash_address", "uint64"),
        ("crash_thread", "int64"), ("signature", "string"), ("threads", "int64"),
        ("modules", "int64"), ("regions", "int64"), ("mapped_bytes", "uint64"),
        ("saved_bytes", "uint64"), ("heap_bytes", "uint64"), ("heap_blocks", "int64"),
        ("warnings", "int64"), ("first_warning", "string"), ("seconds", "float64"),
    ),
    "modules": (
        ("key", "string"), ("path", "string"), ("name", "string"), ("base", "uint64"),
        ("size", "uint64"), ("build_id", "string"), ("debug_id", "string"),
    ),
    "frames": (
        ("key", "string"), ("thread", "int64"), ("crashed", "bool_"), ("index", "int64"),
        ("pc", "uint64"), ("module", "string"), ("module_offset", "uint64"),
        ("function", "string"), ("file", "string"), ("line", "int64"), ("trust", "string"),
    ),
    "heap_groups": (
        ("key", "string"), ("site", "string"), ("function", "string"), ("module", "string"),
        ("module_offset", "uint64"), ("stack", "string"), ("blocks", "int64"),
        ("bytes", "uint64"),
    ),
    "leaks": (
        ("key", "string"), ("kind", "string"), ("size", "uint64"), ("signature", "string"),
        ("blocks", "int64"), ("bytes", "uint64"),
    ),
    "mpy_types": (
        ("key", "string"), ("type", "string"), ("objects", "int64"), ("bytes", "uint64"),
    ),
    "errors": (
        ("key", "string"), ("path", "string"), ("analysis", "string"), ("reason", "string"),
    ),
}

Rows = dict[str, list[dict[str, object]]]


def schema(table: str) -> pa.Schema:
    """The Arrow schema of ``table``, with the schema version in its metadata."""
    import pyarrow as pa

    fields = [pa.field(name, getattr(pa, kind)()) for name, kind in COLUMNS[table]]
    fields.append(pa.field("schema_version", pa.int32()))
    return pa.schema(fields, metadata={"memlens.schema_version": str(SCHEMA_VERSION)})


def empty_rows() -> Rows:
    return {table: [] for table in COLUMNS}

"""The batch dataset on disk: Parquet files per (table, chunk of inputs), written atomically.

Layout under the output folder::

    TABLE/CHUNK.parquet    the rows of one chunk of inputs in one table
    _done/CHUNK            written last: one line per input of the chunk,
                           ``key<TAB>size<TAB>mtime_ns<TAB>fresh<TAB>path``
                           (fresh 0: the key was already done elsewhere, no rows here)

A chunk counts only when its marker exists; every file is written to a
temporary name and renamed, so a task killed part-way leaves nothing a reader
sees, and a retried task rewrites the same names -- never a duplicate row.
Rows carry the input's content key; an input seen twice (one content under two
names) keeps the rows of the first chunk.  DuckDB and pyarrow read
``OUT/TABLE/*.parquet`` directly (filter on the done chunks for exactness
while a run is in progress).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memlens.batch.tables import COLUMNS, SCHEMA_VERSION, Rows, schema
from memlens.errors import FormatError

if TYPE_CHECKING:
    import pyarrow as pa

DONE = "_done"


@dataclass(frozen=True, slots=True)
class InputStamp:
    """What identifies an input file without reading it: path, size, modification time."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> InputStamp:
        st = os.stat(path)
        return cls(path, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class DoneInput:
    key: str
    stamp: InputStamp
    fresh: bool  # the chunk holds this input's rows


def done_chunks(out: str) -> dict[str, list[DoneInput]]:
    """Per complete chunk: its inputs, in the order written."""
    folder = os.path.join(out, DONE)
    try:
        names = sorted(n for n in os.listdir(folder) if ".tmp-" not in n)
    except FileNotFoundError:
        return {}
    chunks: dict[str, list[DoneInput]] = {}
    for name in names:
        entries = []
        with open(os.path.join(folder, name), encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                key, size, mtime, fresh, path = line.rstrip("\n").split("\t", 4)
                stamp = InputStamp(path, int(size), int(mtime))
                entries.append(DoneInput(key, stamp, fresh == "1"))
        chunks[name] = entries
    return chunks


def _atomic_write(path: str, write: Callable[[str], None]) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_chunk(out: str, chunk: str, rows: Rows, inputs: list[DoneInput]) -> None:
    """Store one chunk's rows, then its done marker.

    Raises:
        FormatError: the output folder cannot be written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        for table, items in rows.items():
            if not items:
                continue
            folder = os.path.join(out, table)
            os.makedirs(folder, exist_ok=True)
            cols = {name: [row.get(name) for row in items] for name, _ in COLUMNS[table]}
            cols["schema_version"] = [SCHEMA_VERSION] * len(items)
            arrow = pa.Table.from_pydict(cols, schema=schema(table))

            def parquet(p: str, t: pa.Table = arrow) -> None:
                pq.write_table(t, p)

            _atomic_write(os.path.join(folder, f"{chunk}.parquet"), parquet)
        os.makedirs(os.path.join(out, DONE), exist_ok=True)
        lines = "".join(f"{i.key}\t{i.stamp.size}\t{i.stamp.mtime_ns}\t{int(i.fresh)}\t"
                        f"{i.stamp.path}\n" for i in inputs)  # fmt: skip

        def marker(p: str) -> None:
            with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(lines)

        _atomic_write(os.path.join(out, DONE, chunk), marker)
    except OSError as e:
        raise FormatError(out, None, f"cannot write the batch output: {e.strerror or e}") from None


def read_table(out: str, table: str) -> pa.Table:
    """Every row of ``table`` in the dataset at ``out`` (an empty table when none):
    complete chunks only, each input's rows once."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = []
    seen: set[str] = set()
    for chunk, entries in done_chunks(out).items():
        keys = {i.key for i in entries if i.fresh} - seen
        seen |= keys
        path = os.path.join(out, table, f"{chunk}.parquet")
        if not keys or not os.path.exists(path):
            continue
        part = pq.read_table(path, schema=schema(table))
        parts.append(part.filter(pc.is_in(part["key"], value_set=pa.array(sorted(keys)))))
    return pa.concat_tables(parts) if parts else schema(table).empty_table()

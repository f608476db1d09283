"""Open a target: a PID, or a file whose format is recognised by its content.

:data:`READERS` is the registry: :class:`~memlens.sources.readers.Reader`
objects in probe order, the most specific signatures first.  Besides the
snapshot formats of the sources layer it holds memlens's own heap snapshots
(``.mlheap``) and MicroPython ``mem_info(1)`` text, which open as snapshots
with no saved bytes, so ``memlens info`` describes them like any other file.
``raw`` is chosen only on request (``--format raw``, ``--base``, ``--piece``).
To add a format: write a class with ``name``, ``on_request_only``, ``probe``
and ``load`` and put an instance in :data:`READERS` at its place in the order.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from memlens.errors import FormatError, TargetError, UsageError
from memlens.sources import readers
from memlens.sources.live.pid import parse_pid
from memlens.sources.options import OpenOptions

if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot
    from memlens.sources.readers import Reader

#: how many leading bytes probes see
PROBE_BYTES = 4096


class HeapSnapshotReader:
    """memlens's own ``.mlheap`` heap snapshot (see docs/formats.md)."""

    name = "mlheap"
    on_request_only = False

    def probe(self, head: bytes) -> bool:
        from memlens.heap.profile_file import MAGIC

        return head[: len(MAGIC)] == MAGIC

    def load(self, path: str, options: OpenOptions) -> Snapshot:
        from memlens.heap.profile_file import read_snapshot

        return read_snapshot(path)


class MemInfoTextReader:
    """The text ``micropython.mem_info(1)`` prints."""

    name = "meminfo"
    on_request_only = False

    def probe(self, head: bytes) -> bool:
        from memlens.mpy.meminfo_text import looks_like

        return looks_like(head)

    def load(self, path: str, options: OpenOptions) -> Snapshot:
        from memlens.mpy.meminfo_text import read_snapshot

        return read_snapshot(path, options.snapshot)


#: every file reader, in probe order
READERS: tuple[Reader, ...] = (
    readers.ELFCORE,
    readers.MINIDUMP,
    HeapSnapshotReader(),
    MemInfoTextReader(),
    readers.MEMDUMP,
    readers.RAW,
)


def format_names() -> list[str]:
    """The names ``--format`` accepts: ``live`` and every reader's."""
    return ["live"] + [r.name for r in READERS]


def reader_named(name: str) -> Reader:
    """The reader ``--format name`` selects.

    Raises:
        UsageError: no reader has that name.
    """
    for reader in READERS:
        if reader.name == name:
            return reader
    raise UsageError(f"unknown format {name!r}; known: {', '.join(format_names())}")


def probe_file(path: str) -> Reader | None:
    """The reader whose signature the file at ``path`` has, or ``None``.

    Raises:
        FormatError: the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(PROBE_BYTES)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    for reader in READERS:
        if not reader.on_request_only and reader.probe(head):
            return reader
    return None


def open_target(target: str | int, options: OpenOptions | None = None) -> Snapshot:
    """Open a PID or a snapshot file.

    Raises:
        TargetError: the process cannot be read.
        FormatError: the file is in no known format, or is corrupt.
        UsageError: an unknown ``--format``.
    """
    opts = options or OpenOptions()
    pid = parse_pid(target)
    if pid is not None and opts.format in (None, "live"):
        from memlens.sources.live.process import open_process

        return open_process(pid, opts)
    path = str(target)
    if opts.format == "live":
        raise UsageError(f"{path}: --format live needs a PID")
    if opts.format is not None or opts.base is not None or opts.pieces:
        return reader_named(opts.format or readers.RAW.name).load(path, opts)
    if not os.path.exists(path) and path.isdigit():
        raise TargetError(int(path), "no such process")
    if not os.path.exists(path):
        raise FormatError(path, None, "no such file")
    found = probe_file(path)
    if found is None:
        raise FormatError(
            path, 0, "not a known snapshot format (for a raw dump give --format raw --base ADDR)"
        )
    return found.load(path, opts)

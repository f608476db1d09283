"""Pick the reader for a target: a PID, or a file probed by content in a fixed order.

Each file reader is a module exposing ``NAME``, ``probe(head: bytes) -> bool``
(never raises) and ``load(path, options) -> Snapshot``.  The probe order is the
order of :data:`READERS`: the most specific signatures first, ``raw`` (which
accepts anything, but only when asked for with ``--format raw`` or ``--base``)
last.
"""

from __future__ import annotations

import os
from types import ModuleType

from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError, TargetError, UsageError
from memlens.sources.options import OpenOptions

#: (format name, module) in probe order
READERS: tuple[tuple[str, str], ...] = (
    ("elfcore", "memlens.sources.elfcore.reader"),
    ("minidump", "memlens.sources.minidump.reader"),
    ("memdump", "memlens.sources.memdump"),
    ("raw", "memlens.sources.raw"),
)

#: how many leading bytes probes see
PROBE_BYTES = 4096


def format_names() -> list[str]:
    return ["live"] + [name for name, _ in READERS]


def _reader(name: str) -> ModuleType | None:
    import importlib.util  # file targets only: a PID never needs it

    for fmt, module in READERS:
        if fmt == name:
            try:
                if importlib.util.find_spec(module) is None:
                    return None
            except ModuleNotFoundError:  # the reader's package is not there either
                return None
            return importlib.import_module(module)
    return None


def parse_pid(target: str | int) -> int | None:
    """The PID when ``target`` names a process (``1234`` or ``pid:1234``), else ``None``."""
    if isinstance(target, int):
        return target
    text = target[4:] if target.startswith("pid:") else target
    if text.isdigit() and not os.path.exists(target):
        return int(text)
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
        name = opts.format or "raw"
        reader = _reader(name)
        if reader is None:
            raise UsageError(f"unknown format {name!r}; known: {', '.join(format_names())}")
        snapshot: Snapshot = reader.load(path, opts)
        return snapshot
    try:
        with open(path, "rb") as f:
            head = f.read(PROBE_BYTES)
    except FileNotFoundError:
        if pid is None and str(target).isdigit():
            raise TargetError(int(target), "no such process") from None
        raise FormatError(path, None, "no such file") from None
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    for name, _ in READERS:
        if name == "raw":
            continue  # raw takes anything: only on request
        reader = _reader(name)
        if reader is not None and reader.probe(head):
            snapshot = reader.load(path, opts)
            return snapshot
    raise FormatError(
        path, 0, "not a known snapshot format (for a raw dump give --format raw --base ADDR)"
    )

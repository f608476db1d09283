"""The memlens heap snapshot file (``.mlheap``): blocks, stacks and modules of one moment.

The layout is described in docs/formats.md ("``.mlheap`` heap snapshots").  The
reader checks every count against the bytes that are really there before it
allocates anything, and every stack id and offset against the tables.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.module import Module
from memlens.core.region import Region, RegionKind
from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError
from memlens.heap.model import COLUMNS, HeapBlocks, HeapProfile

MAGIC = b"MLHEAPF\0"
VERSION = 1
_HEAD = struct.Struct("<8sII")
MAX_HEADER = 64 << 20


def probe(head: bytes) -> bool:
    return head[:8] == MAGIC


def dumps(profile: HeapProfile) -> bytes:
    b = profile.blocks
    offsets = np.zeros(len(b.stacks) + 1, dtype="<u8")
    np.cumsum([len(s) for s in b.stacks], out=offsets[1:])
    frames = np.fromiter((a for s in b.stacks for a in s), dtype="<u8", count=int(offsets[-1]))
    header: dict[str, Any] = {
        "n": len(b),
        "m": len(b.stacks),
        "k": int(offsets[-1]),
        "source": profile.source,
        "format": profile.format,
        "pid": profile.pid,
        "command_line": profile.command_line,
        "reason": profile.reason,
        "time": profile.time,
        "word_size": profile.word_size,
        "byteorder": profile.byteorder,
        "warnings": profile.warnings,
        "extra": profile.extra,
        "modules": [
            {
                "path": m.path,
                "base": m.base,
                "end": m.end,
                "build_id": m.build_id.hex() if m.build_id else None,
                "load_bias": m.load_bias,
            }
            for m in profile.modules
        ],
    }
    text = json.dumps(header, sort_keys=True).encode()
    parts = [_HEAD.pack(MAGIC, VERSION, len(text)), text]
    parts += [getattr(b, c).astype("<u8").tobytes() for c in COLUMNS]
    parts += [b.stack_id.astype("<i8").tobytes(), offsets.tobytes(), frames.tobytes()]
    return b"".join(parts)


def write(profile: HeapProfile, path: str) -> None:
    with open(path, "wb") as f:
        f.write(dumps(profile))


def _int(header: dict[str, Any], key: str, source: str) -> int:
    v = header.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise FormatError(source, 16, f"header field {key!r} is not a count")
    return v


def _module(d: Any, source: str) -> Module:
    try:
        bid = d["build_id"]
        bias = d["load_bias"]
        return Module(
            path=str(d["path"]),
            base=int(d["base"]),
            end=int(d["end"]),
            build_id=bytes.fromhex(bid) if bid else None,
            load_bias=None if bias is None else int(bias),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise FormatError(source, 16, f"bad module entry: {e}") from None


def loads(data: bytes, source: str = "<bytes>") -> HeapProfile:
    """Parse a heap snapshot.

    Raises:
        FormatError: wrong magic or version, truncated, or inconsistent tables.
    """
    if len(data) < _HEAD.size:
        raise FormatError(source, 0, "too short for a memlens heap snapshot")
    magic, version, hlen = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise FormatError(source, 0, "not a memlens heap snapshot (bad magic)")
    if version != VERSION:
        raise FormatError(source, 8, f"version {version}; this memlens reads {VERSION}")
    if hlen > min(MAX_HEADER, len(data) - _HEAD.size):
        raise FormatError(source, 12, f"header length {hlen} exceeds the file")
    try:
        header = json.loads(data[_HEAD.size : _HEAD.size + hlen].decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(source, _HEAD.size, f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise FormatError(source, _HEAD.size, "header is not a JSON object")
    n, m, k = (_int(header, key, source) for key in ("n", "m", "k"))
    pos = _HEAD.size + hlen
    need = 8 * (7 * n + m + 1 + k)
    if len(data) - pos != need:
        raise FormatError(source, pos, f"tables need {need} bytes, {len(data) - pos} present")
    cols = {}
    for c in COLUMNS:
        cols[c] = np.frombuffer(data, dtype="<u8", count=n, offset=pos).astype(np.uint64)
        pos += 8 * n
    stack_id = np.frombuffer(data, dtype="<i8", count=n, offset=pos).astype(np.int64)
    pos += 8 * n
    offsets = np.frombuffer(data, dtype="<u8", count=m + 1, offset=pos).astype(np.int64)
    pos += 8 * (m + 1)
    frames = np.frombuffer(data, dtype="<u8", count=k, offset=pos)
    if offsets[0] != 0 or offsets[-1] != k or bool(np.any(np.diff(offsets) < 0)):
        raise FormatError(source, pos, "stack offsets are not increasing from 0 to the frame count")
    if n and (int(stack_id.min()) < 0 or int(stack_id.max()) >= m):
        raise FormatError(source, pos, "a block names a stack that is not in the table")
    flist = frames.tolist()
    stacks = [tuple(flist[offsets[i] : offsets[i + 1]]) for i in range(m)]
    modules_raw = header.get("modules", [])
    if not isinstance(modules_raw, list):
        raise FormatError(source, _HEAD.size, "modules is not a list")

    def text(key: str) -> str | None:
        v = header.get(key)
        return v if isinstance(v, str) else None

    pid = header.get("pid")
    t = header.get("time")
    extra = header.get("extra")
    warnings = header.get("warnings")
    return HeapProfile(
        blocks=HeapBlocks.from_columns(cols, stack_id, stacks),
        modules=[_module(d, source) for d in modules_raw],
        source=text("source") or source,
        format=text("format") or "mlheap",
        pid=pid if isinstance(pid, int) else None,
        command_line=text("command_line"),
        reason=text("reason"),
        time=float(t) if isinstance(t, float) or (isinstance(t, int) and abs(t) < 2**53) else None,
        word_size=8 if header.get("word_size") != 4 else 4,
        byteorder="big" if header.get("byteorder") == "big" else "little",
        warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [],
        extra=extra if isinstance(extra, dict) else {},
    )


def read(path: str) -> HeapProfile:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FormatError(path, 0, f"cannot read: {e.strerror}") from None
    return loads(data, path)


class HeapSnapshotFile(Snapshot):
    """A ``.mlheap`` file opened as a snapshot: its modules as regions whose bytes
    were not saved, its process and counts as facts; :attr:`profile` holds the blocks."""

    def __init__(self, profile: HeapProfile, path: str) -> None:
        regions = [
            Region(m.base, m.end, name=m.path, kind=RegionKind.FILE, path=m.path)
            for m in sorted(profile.modules, key=lambda m: (m.base, m.end))
            if m.end > m.base
        ]
        space = AddressSpace(
            regions,
            [Segment(r.start, r.end, None) for r in regions],
            word_size=profile.word_size,
            byteorder="big" if profile.byteorder == "big" else "little",
        )
        super().__init__(
            format="mlheap",
            source=path,
            space=space,
            arch=None,
            modules=list(profile.modules),
            pid=profile.pid,
            command_line=profile.command_line,
            warnings=list(profile.warnings),
            extra={
                "heap snapshot of": profile.source,
                "reason": profile.reason,
                "time": profile.time,
                "blocks": len(profile.blocks),
                "bytes": profile.blocks.total_bytes,
                "stacks": len(profile.blocks.stacks),
            },
        )
        self.profile = profile


def read_snapshot(path: str) -> HeapSnapshotFile:
    """A ``.mlheap`` file as a :class:`Snapshot` (for ``memlens info`` and the registry).

    Raises:
        FormatError: the file is not a valid heap snapshot.
    """
    return HeapSnapshotFile(read(path), path)

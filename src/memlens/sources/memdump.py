"""Chromium ``memdump`` text: mappings with page residency bitmaps, no bytes.

One block per process::

    [ PID=<pid>]
    <start>-<end> <perms> <offset> private_unevictable=<B> private=<B> \
shared_app=[<B>:<B>,...] shared_other_unevictable=<B> shared_other=<B> "<name>" [<base64>]

Hex without ``0x``; ``end`` is exclusive.  The bitmap has one bit per page,
least significant bit first, with trailing zero bytes stripped: pages past
its end are not resident.  The 2013 variant writes ``shared_app=[<B>,...]``.
Every mapping is "not saved" (there are no bytes); residency is served by
:meth:`MemdumpSnapshot.page_table` with only the present bit known.
"""

from __future__ import annotations

import binascii
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.pages import BIT_PRESENT, PageTable
from memlens.core.rangemap import Overlap
from memlens.core.region import Perms, Region, kind_from_name
from memlens.core.snapshot import Arch, Snapshot
from memlens.errors import FormatError
from memlens.sources.options import OpenOptions

NAME = "memdump"
#: memdump records pages of the device's page size; it does not say which.
DEFAULT_PAGE_SIZE = 4096
#: regions with more pages than this get a table that stops where the bitmap does (a partial
#: table: every later page is not resident), so memory stays bounded by the file's size
MAX_TABLE_PAGES = 1 << 20
#: largest file accepted (a memdump of a big process is a few MiB)
MAX_FILE = 1 << 30

_PID = re.compile(rb"^\[ PID=(\d+)\]\s*$")
#: the part of a mapping line before the name (the fields hold no quotes)
_HEAD = re.compile(
    rb"^([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16}) ([-rwxsp]{4}) ([0-9a-fA-F]{1,16}) ([^\"]*)$"
)
_BITMAP = re.compile(rb"^[A-Za-z0-9+/=]*$")
_FIELD = re.compile(rb"([a-z_]+)=(\[[^\]]*\]|\d+)")

UNAVAILABLE = {
    "pfn": "memdump records residency only",
    "count": "memdump records residency only",
    "flags": "memdump records residency only",
    "swap": "memdump records residency only",
    "soft_dirty": "memdump records residency only",
}


def probe(head: bytes) -> bool:
    """The first non-blank line is a ``[ PID=N]`` header or a memdump mapping line."""
    for line in head.splitlines()[:4]:
        if line.strip():
            return bool(_PID.match(line) or _split(line))
    return False


def _split(line: bytes) -> tuple[re.Match[bytes], bytes, bytes] | None:
    """(head fields, name, base64 bitmap) of a mapping line, or ``None``.

    Split with plain string searches, not one regex: a name may hold quotes, and a
    backtracking pattern over a hostile line of quotes would take quadratic time.
    """
    line = line.rstrip()
    if not line.endswith(b"]"):
        return None
    open_bitmap = line.rfind(b'" [')
    first_quote = line.find(b'"')
    if open_bitmap < 0 or first_quote < 0 or first_quote >= open_bitmap:
        return None
    head = _HEAD.match(line[:first_quote])
    bitmap = line[open_bitmap + 3 : -1]
    if head is None or not _BITMAP.match(bitmap):
        return None
    return head, line[first_quote + 1 : open_bitmap], bitmap


@dataclass(frozen=True, slots=True)
class _Mapping:
    region: Region
    bitmap: bytes
    stats: dict[str, Any]


class MemdumpSnapshot(Snapshot):
    """One process of a memdump file."""

    def __init__(self, bitmaps: dict[int, bytes], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bitmaps = bitmaps

    @property
    def has_residency(self) -> bool:
        return True

    def page_table(self, region: Region) -> PageTable | None:
        bitmap = self._bitmaps.get(region.start)
        if bitmap is None:
            return None
        npages = -(-region.size // self.page_size)
        bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
        if len(bits) > npages:
            bits = bits[:npages]  # padding bits of the last byte
        partial = None
        if npages > MAX_TABLE_PAGES:
            npages = len(bits)
            partial = f"only the first {npages} pages listed (all later pages not resident)"
        present = np.zeros(npages, dtype=np.uint64)
        present[: len(bits)] = bits.astype(np.uint64) << np.uint64(BIT_PRESENT)
        return PageTable(region.start, self.page_size, present, None, None,
                         dict(UNAVAILABLE), partial)  # fmt: skip


def _parse_stats(text: bytes, source: str, lineno: int) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    for key, value in _FIELD.findall(text):
        name = key.decode()
        if value.startswith(b"["):
            items = [v for v in value[1:-1].split(b",") if v]
            try:
                # current: <B>:<B> (app, bytes); 2013: <B>
                stats[name] = [[int(x) for x in v.split(b":")] for v in items]
            except ValueError:
                raise FormatError(source, None, f"line {lineno}: bad {name} list") from None
        else:
            stats[name] = int(value)
    return stats


def _parse(data: bytes, source: str) -> dict[int | None, list[_Mapping]]:
    blocks: dict[int | None, list[_Mapping]] = {}
    current: list[_Mapping] | None = None
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        pid = _PID.match(line)
        if pid:
            current = blocks.setdefault(int(pid.group(1)), [])
            continue
        parts = _split(line)
        if parts is None:
            raise FormatError(source, None, f"line {lineno}: not a memdump mapping line")
        m, raw_name, raw_bitmap = parts
        start, end, offset = int(m.group(1), 16), int(m.group(2), 16), int(m.group(4), 16)
        if end < start:
            raise FormatError(source, None, f"line {lineno}: end {end:#x} below start {start:#x}")
        try:
            bitmap = binascii.a2b_base64(raw_bitmap)
        except binascii.Error:
            raise FormatError(source, None, f"line {lineno}: bad base64 bitmap") from None
        name = raw_name.decode("utf-8", "surrogateescape")
        kind = kind_from_name(name)
        region = Region(start, end, Perms.parse(m.group(3).decode()), offset, name, kind,
                        name if name.startswith("/") else None)  # fmt: skip
        if current is None:
            current = blocks.setdefault(None, [])
        current.append(_Mapping(region, bitmap, _parse_stats(m.group(5), source, lineno)))
    return blocks


def load(path: str, options: OpenOptions) -> Snapshot:
    """Open one process of a memdump file (``options.pid``, else the first, with a warning).

    Raises:
        FormatError: the file is not memdump text, or a line is malformed.
        UsageError: ``--pid`` names a process the file does not hold.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(min(MAX_FILE, os.fstat(f.fileno()).st_size) + 1)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    if len(data) > MAX_FILE:
        raise FormatError(path, None, f"larger than {MAX_FILE} bytes: not a memdump")
    blocks = _parse(data, path)
    if not blocks:
        raise FormatError(path, 0, "no mappings in memdump file")
    pids = [p for p in blocks if p is not None]
    warnings: list[str] = []
    if options.pid is not None:
        if options.pid not in blocks:
            from memlens.errors import UsageError

            raise UsageError(f"{path}: no PID {options.pid}; it holds {_pid_list(pids)}")
        pid: int | None = options.pid
    else:
        pid = next(iter(blocks))
        others = [p for p in pids if p != pid]
        if others:
            warnings.append(f"file holds {len(pids)} processes; showing PID {pid} "
                            f"(choose with --pid: {_pid_list(others)})")  # fmt: skip
    mappings = blocks[pid]
    regions = [m.region for m in mappings]
    word = 8 if any(r.end > 1 << 32 for r in regions) else 4
    space = AddressSpace(regions, [Segment(r.start, r.end, None) for r in regions],
                         word_size=word, overlap=Overlap.KEEP_FIRST)  # fmt: skip
    if space.segments.conflicts:
        warnings.append(f"{len(space.segments.conflicts)} overlapping mappings: the first wins")
    bitmaps: dict[int, bytes] = {}
    for m in mappings:
        bitmaps.setdefault(m.region.start, m.bitmap)
    return MemdumpSnapshot(
        bitmaps,
        format=NAME,
        source=path,
        space=space,
        arch=Arch("unknown", word, "little"),
        pid=pid,
        page_size=DEFAULT_PAGE_SIZE,
        warnings=warnings,
        extra={"pids": pids, "stats": {m.region.start: m.stats for m in mappings}},
    )


def _pid_list(pids: list[int]) -> str:
    return ", ".join(str(p) for p in pids) or "no PID headers"

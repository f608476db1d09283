"""Raw memory dumps: the bytes of one address range, with no header.

A file may hold N concatenated snapshots of the same range
(``--snapshot-size``, ``--snapshot K|last``); several ``ADDR:FILE`` pieces
combine into one space.  Nothing here is probed: raw is chosen with
``--format raw`` or ``--base``.
"""

from __future__ import annotations

import mmap
import os

from memlens.core.addrspace import AddressSpace, ByteOrder, Segment
from memlens.core.backing import BufferBacking
from memlens.core.rangemap import Overlap
from memlens.core.region import Perms, Region, RegionKind
from memlens.core.snapshot import Arch, Snapshot
from memlens.errors import FormatError, UsageError
from memlens.sources.options import OpenOptions

NAME = "raw"


def _map_file(path: str) -> tuple[BufferBacking, int]:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return BufferBacking(b""), 0
            return BufferBacking(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)), size
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None


def snapshot_count(file_size: int, snapshot_size: int | None) -> int:
    if not snapshot_size:
        return 1
    return file_size // snapshot_size


def select_snapshot(path: str, file_size: int, options: OpenOptions) -> tuple[int, int, int]:
    """``(offset, size, index)`` of the chosen snapshot inside the file.

    Raises:
        UsageError: the snapshot index or size does not fit the file.
    """
    per = options.snapshot_size
    if not per:
        if options.snapshot not in (None, 0, "last"):
            raise UsageError("--snapshot needs --snapshot-size")
        return 0, file_size, 0
    if per <= 0:
        raise UsageError("--snapshot-size must be positive")
    count = file_size // per
    if count == 0:
        raise FormatError(path, 0, f"file ({file_size} bytes) is smaller than one snapshot ({per})")
    which = options.snapshot if options.snapshot is not None else "last"
    index = count - 1 if which == "last" else int(which)
    if not 0 <= index < count:
        raise UsageError(f"--snapshot {index}: the file holds snapshots 0..{count - 1}")
    return index * per, per, index


def load(path: str, options: OpenOptions) -> Snapshot:
    """Open a raw dump.

    Raises:
        UsageError: no ``--base`` given.
        FormatError: the file cannot be read.
    """
    if options.base is None and not options.pieces:
        raise UsageError(f"{path}: a raw dump needs --base ADDR (where its first byte lives)")
    word = options.word_size or 8
    order: ByteOrder = "big" if options.endian == "big" else "little"
    pieces: list[tuple[int, str]] = []
    if options.base is not None:
        pieces.append((options.base, path))
    pieces.extend(options.pieces)
    regions: list[Region] = []
    segments: list[Segment] = []
    extra: dict[str, object] = {}
    for i, (base, piece_path) in enumerate(pieces):
        backing, size = _map_file(piece_path)
        offset = 0
        if i == 0 and options.base is not None:
            offset, size, index = select_snapshot(piece_path, size, options)
            extra["snapshot"] = index
            extra["snapshots"] = snapshot_count(len(backing), options.snapshot_size)
        if size == 0:
            continue
        name = os.path.basename(piece_path)
        regions.append(Region(base, base + size, Perms(True, True, False), 0, name,
                              RegionKind.UNKNOWN))  # fmt: skip
        segments.append(Segment(base, base + size, backing, offset))
    try:
        space = AddressSpace(regions, segments, word_size=word, byteorder=order,
                             overlap=Overlap.ERROR)  # fmt: skip
    except ValueError as e:
        raise UsageError(f"raw pieces overlap: {e}") from None
    return Snapshot(
        format=NAME,
        source=path,
        space=space,
        arch=Arch("unknown", word, order),
        extra=extra,
    )

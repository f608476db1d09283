"""The shim's stack table from its file, where a core left the mapping out.

Under ``memlens run`` the table is a file (``OUT/PID-K.mlstats``) the
program maps shared (docs/heap.md).  A kernel core -- and gdb's ``gcore`` --
leaves shared file mappings out, so the blocks' format-3 records name
stacks the image does not hold.  The core still names the mapping (NT_FILE:
its address and path), and the file keeps the table (entries are only ever
appended): mapped read-only where the process had it, it gives the stacks
back.  The file is used only when its header says it is the table of this
process (its pid), and only for bytes the core did not save.
"""

from __future__ import annotations

import copy
import mmap
import os

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.backing import BufferBacking
from memlens.core.snapshot import Snapshot
from memlens.heap.stats_table import MAGIC, VERSION, header_field

SUFFIX = ".mlstats"
_HEAD = 64


def _table_file(path: str, size: int, pid: int | None) -> mmap.mmap | None:
    """``path`` mapped read-only when it is this process's table, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
            if (len(head) < _HEAD or header_field(head, "magic") != MAGIC
                    or header_field(head, "version") != VERSION):  # fmt: skip
                return None
            if pid is not None and header_field(head, "pid") != pid:
                return None
            length = min(size, os.fstat(f.fileno()).st_size)
            return mmap.mmap(f.fileno(), length, prot=mmap.PROT_READ) if length else None
    except (OSError, ValueError):
        return None


def with_table_files(snapshot: Snapshot) -> Snapshot:
    """``snapshot``, or a copy whose unsaved ``.mlstats`` mappings read from their files."""
    space = snapshot.space
    extra: list[Segment] = []
    for r in snapshot.regions:
        if not (r.path and r.path.endswith(SUFFIX)) or space.saved_bytes(r.start, r.end):
            continue
        buf = _table_file(r.path, r.end - r.start, snapshot.pid)
        if buf is not None:
            extra.append(Segment(r.start, r.start + len(buf), BufferBacking(buf), 0))
    if not extra:
        return snapshot
    # the file's segments first: they win over the core's unsaved ones
    both = AddressSpace(snapshot.regions, [*extra, *(seg for _, _, seg in space.segments)],
                        word_size=space.word_size, byteorder=space.byteorder)  # fmt: skip
    out = copy.copy(snapshot)
    out.space = both
    return out

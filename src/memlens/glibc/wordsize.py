"""The target's own pointer size, when the source got it wrong.

The live source describes every process with the machine's word size; a
32-bit (i386) program on x86_64 then reads as 8-byte words.  The ELF class
of the program's own image in memory (``e_ident[EI_CLASS]``: 1 = 32-bit)
says which it is; for a 32-bit target the walk runs on a copy of the snapshot
whose address space reads 4-byte words over the same bytes.
"""

from __future__ import annotations

import copy
import os

from memlens.core.addrspace import AddressSpace
from memlens.core.snapshot import Snapshot

ELFCLASS32 = 1


def _image_class(snapshot: Snapshot) -> int | None:
    exe = None
    if snapshot.pid is not None:
        try:
            exe = os.readlink(f"/proc/{snapshot.pid}/exe")
        except OSError:
            exe = None
    for r in sorted(snapshot.regions, key=lambda r: r.start):
        if r.path and r.offset == 0 and (exe is None or r.path == exe):
            head = snapshot.space.read(r.start, 5, pad=True)
            if head[:4] == b"\x7fELF":
                return head[4]
            if exe is not None:
                return None
    return None


def with_target_words(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` itself, or a copy reading 4-byte words for a 32-bit program
    the source described as 64-bit."""
    space = snapshot.space
    if space.word_size != 8 or snapshot.format != "live":
        return snapshot
    if _image_class(snapshot) != ELFCLASS32:
        return snapshot
    narrow = AddressSpace(snapshot.regions, (seg for _, _, seg in space.segments),
                          word_size=4, byteorder=space.byteorder)  # fmt: skip
    out = copy.copy(snapshot)
    out.space = narrow
    return out

"""GNU build ids of modules whose ELF headers were saved in the core.

The kernel saves the first page of every ELF file mapping (coredump_filter
bit 4), which holds the program headers and usually the build-id note.  The
first mapping of a file starts at file offset 0, so file offset ``x`` is at
``base + x`` while ``x`` stays inside that mapping: no load bias needed.
"""

from __future__ import annotations

import struct

from memlens.core.addrspace import AddressSpace
from memlens.errors import AddressError
from memlens.sources.elfcore.notes import gnu_build_id

_PT_NOTE = 4
#: (phoff field offset and format, phentsize/phnum offset, program header layout:
#: offsets of p_type, p_offset, p_filesz and their formats) per ELF class
_LAYOUT = {1: (28, "I", 42, (0, "I", 4, "I", 16, "I")), 2: (32, "Q", 54, (0, "I", 8, "Q", 32, "Q"))}
MAX_PHNUM = 128
MAX_NOTE = 4096


def build_id_at(space: AddressSpace, base: int, first_mapping_size: int) -> bytes | None:
    """The build id of the ELF image mapped at ``base``, or ``None`` when not saved/absent."""
    try:
        ident = space.read(base, 64)
    except AddressError:
        return None
    if ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return None
    p = "<" if ident[5] == 1 else ">"
    phoff_at, phoff_fmt, phent_at, (t_at, t_f, o_at, o_f, s_at, s_f) = _LAYOUT[ident[4]]
    phoff = struct.unpack_from(p + phoff_fmt, ident, phoff_at)[0]
    phentsize, phnum = struct.unpack_from(p + "HH", ident, phent_at)
    if phnum > MAX_PHNUM or phentsize < s_at + 4 or phoff + phnum * phentsize > first_mapping_size:
        return None
    try:
        table = space.read(base + phoff, phnum * phentsize)
        for i in range(phnum):
            at = i * phentsize
            if struct.unpack_from(p + t_f, table, at + t_at)[0] != _PT_NOTE:
                continue
            off = struct.unpack_from(p + o_f, table, at + o_at)[0]
            size = struct.unpack_from(p + s_f, table, at + s_at)[0]
            if size > MAX_NOTE or off + size > first_mapping_size:
                continue
            found = gnu_build_id(space.read(base + off, size), p)
            if found:
                return found
    except AddressError:
        return None
    return None


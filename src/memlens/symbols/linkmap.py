"""What the target's own memory says about its modules: ELF notes and the loader's list.

* :func:`build_id_in_memory`: the ELF header mapped at a module's base, its
  program headers and PT_NOTE -> NT_GNU_BUILD_ID (kernel cores keep the first
  page of every file mapping for exactly this).
* :func:`walk`: auxv ``AT_PHDR`` -> the executable's ``PT_DYNAMIC`` ->
  ``DT_DEBUG`` -> ``struct r_debug`` -> the ``link_map`` chain (``l_addr`` is
  the load bias, ``l_name`` the path).  Used when nothing else names the files
  (a core without NT_FILE).  Every read may fail (not saved); the walk stops at
  1024 entries or on a loop.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from memlens.errors import MemlensError
from memlens.sources.elfcore.notes import gnu_build_id, parse_auxv
from memlens.symbols.elffile import ELF_MAGIC, PT_DYNAMIC, PT_LOAD, PT_NOTE

# not typing.TYPE_CHECKING: mypy treats any name TYPE_CHECKING as true, and the
# model's import is start-up a symbolizer of plain ELF files does not need
TYPE_CHECKING = False
if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot

AT_PHDR, AT_PHNUM, AT_EXECFN = 3, 5, 31
PT_PHDR = 6
DT_NULL, DT_DEBUG = 0, 21
MAX_LINKMAP = 1024
MAX_PHNUM = 256
MAX_NOTES = 1 << 16

#: (class) -> offsets in Elf_Ehdr of e_phoff, e_phentsize, e_phnum and their formats
_EHDR = {1: (28, "I", 42, 44), 2: (32, "Q", 54, 56)}
#: (class) -> Elf_Phdr format and the order of (type, offset, vaddr, filesz, memsz)
_PHDR = {1: ("IIIIIIII", (0, 1, 2, 4, 5)), 2: ("IIQQQQQQ", (0, 2, 3, 5, 6))}


def _phdrs(snap: Snapshot, at: int, count: int, elfclass: int, order: str) -> list[tuple[int, ...]]:
    fmt, pick = _PHDR[elfclass]
    size = struct.calcsize(fmt)
    raw = snap.space.read(at, size * min(count, MAX_PHNUM))
    return [tuple(rec[i] for i in pick) for rec in struct.iter_unpack(order + fmt, raw)]


def _header(snap: Snapshot, base: int) -> tuple[int, str, list[tuple[int, ...]]] | None:
    head = snap.space.read(base, 64, pad=True)
    if head[:4] != ELF_MAGIC or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    elfclass, order = head[4], "<" if head[5] == 1 else ">"
    phoff_at, phoff_fmt, _, phnum_at = _EHDR[elfclass]
    phoff = struct.unpack_from(order + phoff_fmt, head, phoff_at)[0]
    phnum = struct.unpack_from(order + "H", head, phnum_at)[0]
    return elfclass, order, _phdrs(snap, base + phoff, phnum, elfclass, order)


def build_id_in_memory(snap: Snapshot, base: int) -> bytes | None:
    """The GNU build id of the ELF image mapped at ``base``, when its headers are readable."""
    try:
        found = _header(snap, base)
        if found is None:
            return None
        _, order, phdrs = found
        loads = [p for p in phdrs if p[0] == PT_LOAD]
        first = next((p for p in loads if p[1] == 0), None)
        if first is None:
            return None
        bias = base - (first[2] & ~0xFFF)
        for ptype, _off, vaddr, filesz, _memsz in phdrs:
            if ptype == PT_NOTE and 0 < filesz <= MAX_NOTES:
                found_id = gnu_build_id(snap.space.read(vaddr + bias, filesz), order)
                if found_id:
                    return found_id
    except MemlensError:
        return None
    return None


def auxv(snap: Snapshot) -> dict[int, int]:
    """The target's auxiliary vector (key -> value), or {} when the snapshot has none."""
    return _auxv(snap)


def _auxv(snap: Snapshot) -> dict[int, int]:
    raw: Any = snap.extra.get("auxv")
    if raw is None and snap.format == "live" and snap.pid:
        try:
            with open(f"/proc/{snap.pid}/auxv", "rb") as f:
                data = f.read()
        except OSError:
            return {}
        prefix = "<" if snap.space.byteorder == "little" else ">"
        return parse_auxv(data, snap.space.word_size, prefix)
    if isinstance(raw, dict):
        return {int(k): int(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        out: dict[int, int] = {}
        for item in raw:
            if isinstance(item, tuple | list) and len(item) == 2:
                out.setdefault(int(item[0]), int(item[1]))
        return out
    return {}


def walk(snap: Snapshot) -> Iterator[tuple[str, int, int]]:
    """``(path, base, load bias)`` of each module the dynamic loader lists (paths only)."""
    try:
        yield from _walk(snap)
    except MemlensError:
        return


def _walk(snap: Snapshot) -> Iterator[tuple[str, int, int]]:
    aux = _auxv(snap)
    phdr_at, phnum = aux.get(AT_PHDR), aux.get(AT_PHNUM)
    if not phdr_at or not phnum:
        return
    space = snap.space
    elfclass = 2 if space.word_size == 8 else 1
    order = "<" if space.byteorder == "little" else ">"
    phdrs = _phdrs(snap, phdr_at, phnum, elfclass, order)
    pt_phdr = next((p for p in phdrs if p[0] == PT_PHDR), None)
    first_load = next((p for p in phdrs if p[0] == PT_LOAD), None)
    if pt_phdr is not None:
        exe_bias = phdr_at - pt_phdr[2]
    elif first_load is not None and first_load[1] == 0:
        exe_bias = 0  # no PT_PHDR: a static non-PIE executable
    else:
        return
    dyn = next((p for p in phdrs if p[0] == PT_DYNAMIC), None)
    exe = space.cstring(aux[AT_EXECFN]) if AT_EXECFN in aux else None
    if exe:
        base = exe_bias + (first_load[2] & ~0xFFF if first_load else 0)
        yield exe.decode("utf-8", "surrogateescape"), base, exe_bias
    if dyn is None:
        return
    word = space.word_size
    r_debug = 0
    for i in range(min(dyn[4] // (2 * word), 4096)):
        tag = space.pointer(dyn[2] + exe_bias + 2 * word * i)
        if tag == DT_NULL:
            break
        if tag == DT_DEBUG:
            r_debug = space.pointer(dyn[2] + exe_bias + 2 * word * i + word)
            break
    if not r_debug:
        return
    entry = space.pointer(r_debug + word)  # r_map follows the int r_version (padded)
    seen: set[int] = set()
    while entry and entry not in seen and len(seen) < MAX_LINKMAP:
        seen.add(entry)
        l_addr, l_name, _l_ld, l_next = (space.pointer(entry + k * word) for k in range(4))
        name = space.cstring(l_name).decode("utf-8", "surrogateescape") if l_name else ""
        if name.startswith("/"):
            yield name, l_addr, l_addr
        entry = l_next

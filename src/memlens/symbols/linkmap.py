"""What the target's own memory says about its modules: ELF notes and the loader's list.

Both are read by :mod:`memlens.sources.elfcore.image` (one parser of ELF headers in
memory, one load bias, one walk of the loader's list); this module applies them to
any snapshot, a live process's auxv included.

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

from collections.abc import Iterator
from typing import Any

from memlens.errors import MemlensError
from memlens.sources.elfcore import image
from memlens.sources.elfcore.notes import parse_auxv

# not typing.TYPE_CHECKING: mypy treats any name TYPE_CHECKING as true, and the
# model's import is start-up a symbolizer of plain ELF files does not need
TYPE_CHECKING = False
if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot


def build_id_in_memory(snap: Snapshot, base: int) -> bytes | None:
    """The GNU build id of the ELF image mapped at ``base``, when its headers are readable."""
    found = image.image_at(snap.space, base)
    return found.build_id(snap.space) if found is not None else None


def auxv(snap: Snapshot) -> dict[int, int]:
    """The target's auxiliary vector (key -> value), or {} when the snapshot has none."""
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
    """``(path, base, load bias)`` of each module the dynamic loader lists (paths only;
    a shared object's base is its bias, to be corrected by its file's headers)."""
    aux = auxv(snap)
    try:
        exe = image.executable(snap.space, aux)
        if exe is not None and exe.path != "[exe]" and exe.load_bias is not None:
            yield exe.path, exe.base, exe.load_bias
        for entry in image.link_map(snap.space, aux):
            if entry.name.startswith("/"):
                yield entry.name, entry.l_addr, entry.l_addr
    except MemlensError:
        return

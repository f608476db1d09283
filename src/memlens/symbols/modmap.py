"""The module map of a target: which file is loaded where, with its load bias.

Sources, best first: file-backed regions (live ``/proc/PID/maps``, NT_FILE,
minidump LinuxMaps) -- they give the file offset of each mapping, hence the
exact bias through the file's PT_LOAD headers; the snapshot's ``modules``
(minidump ModuleList, NT_FILE); and, when neither names a file, the dynamic
loader's own list in memory (auxv ``AT_PHDR`` -> ``PT_DYNAMIC`` -> ``DT_DEBUG``
-> ``r_debug`` -> ``link_map``, bounded).

The bias is never "address = file offset": it is ``runtime - p_vaddr`` from
the PT_LOAD that holds the mapped offset.  Build ids come from the file and,
when present, from the target (the dump's module record or the ELF notes in
memory); a file whose build id differs is reported and not used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from memlens.core.module import Module
from memlens.errors import MemlensError
from memlens.symbols import linkmap
from memlens.symbols.dwarf import cache_dir
from memlens.symbols.elffile import ElfFile, is_elf

if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot


AT_SYSINFO_EHDR = 33  # auxv: the address of the vdso's ELF header


@dataclass(frozen=True, slots=True)
class ModuleFile:
    """One module of the target beside the local file its symbols are read from.

    Attributes:
        module: the module as the target records it (``build_id`` is the target's,
            from the dump or its memory; ``load_bias`` runtime minus ``p_vaddr``).
        file: the local file (None: not found or rejected).
        file_build_id: the build id of ``file``.
        problem: why ``file`` is None, or what is doubtful.
    """

    module: Module
    file: str | None = None
    file_build_id: bytes | None = None
    problem: str | None = None


@dataclass(slots=True)
class _Candidate:
    path: str
    base: int
    end: int
    mapping: tuple[int, int] | None  # (start, file offset) of the lowest-offset mapping
    deleted: bool = False
    build_id: bytes | None = None
    debug_id: str | None = None  # a minidump's CodeView id when it records no build id
    bias: int | None = None
    base_from_bias: bool = False  # the loader's list gives the bias, not the base


def _from_regions(snapshot: Snapshot) -> dict[str, _Candidate]:
    found: dict[str, _Candidate] = {}
    for r in snapshot.regions:
        if not r.path:
            continue
        c = found.get(r.path)
        if c is None:
            found[r.path] = _Candidate(r.path, r.start, r.end, (r.start, r.offset), r.deleted)
            continue
        c.base, c.end = min(c.base, r.start), max(c.end, r.end)
        if c.mapping is None or r.offset < c.mapping[1]:
            c.mapping = (r.start, r.offset)
    return found


def _local_file(snapshot: Snapshot, c: _Candidate, sysroot: str | None) -> str | None:
    if sysroot:
        p = os.path.join(sysroot, c.path.lstrip("/"))
        return p if os.path.isfile(p) else None
    if snapshot.format == "live" and snapshot.pid and c.mapping is not None:
        # the exact file the process mapped, even when deleted or replaced on disk
        # or in another mount namespace; needs the same rights as reading its memory
        r = snapshot.space.region_at(c.mapping[0])
        if r is not None and r.start == c.mapping[0]:
            mf = f"/proc/{snapshot.pid}/map_files/{r.start:x}-{r.end:x}"
            if os.path.exists(mf) and (c.deleted or not os.path.isfile(c.path)):
                return mf
    return c.path if os.path.isfile(c.path) else None


def _vdso_file(snapshot: Snapshot, start: int, end: int) -> str | None:
    """The target's vdso image, copied from its memory into the cache (named by content:
    the kernel's image differs by kernel build, never within one), or None when the
    bytes are not in the snapshot or are no ELF image."""
    import hashlib  # only for a target with a vdso: not paid by every symbolize
    import tempfile

    try:
        image = snapshot.space.read(start, end - start)
    except MemlensError:
        return None
    if image[:4] != b"\x7fELF":
        return None
    folder = os.path.join(os.path.dirname(cache_dir()), "vdso")
    path = os.path.join(folder, hashlib.sha256(image).hexdigest()[:32] + ".so")
    if not os.path.isfile(path):
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(image)
            os.replace(tmp, path)
        except OSError:
            return None
    return path


def _vdso_range(snapshot: Snapshot) -> tuple[int, int] | None:
    """Where the vdso is: the region named ``[vdso]`` (live maps), else the region at the
    auxv's ``AT_SYSINFO_EHDR`` (cores do not name their segments)."""
    from memlens.core.region import RegionKind  # snapshots only: not a plain file's start-up

    vdso = [r for r in snapshot.regions if r.kind == RegionKind.VDSO]
    if vdso:
        return min(r.start for r in vdso), max(r.end for r in vdso)
    at = linkmap.auxv(snapshot).get(AT_SYSINFO_EHDR)
    r = snapshot.space.region_at(at) if at else None
    return (r.start, r.end) if r is not None and r.start == at and not r.path else None


def _vdso(snapshot: Snapshot, sysroot: str | None) -> ModuleFile | None:
    """The vdso as a module whose file is its own image, copied from the target."""
    where = _vdso_range(snapshot)
    if where is None:
        return None
    start, end = where
    local = _vdso_file(snapshot, start, end)
    if local is None:
        return ModuleFile(Module("[vdso]", start, end), problem="vdso image not in the snapshot")
    c = _Candidate("[vdso]", start, end, (start, 0))
    module = _resolve(snapshot, c, sysroot, local)
    return module


def build_module_map(snapshot: Snapshot, *, sysroot: str | None = None) -> list[ModuleFile]:
    """The modules of ``snapshot``, sorted by base address (never raises for one bad file).

    The vdso, which has no file, is read from the target's own memory."""
    cands = _from_regions(snapshot)
    by_base = {c.base: c for c in cands.values()}
    for m in snapshot.modules:
        c = cands.get(m.path) or by_base.get(m.base)
        if c is None:
            c = _Candidate(m.path, m.base, m.end, None)
            cands[m.path] = c
        c.build_id = c.build_id or m.build_id
        c.debug_id = c.debug_id or m.debug_id
        if m.end > m.base and (m.base < c.base or m.end > c.end):
            # a dump's module list spans the whole image; a region may be only a saved
            # piece of it (a minidump MemoryList range inside ntdll.dll)
            if m.base < c.base:
                c.mapping = (m.base, 0)  # the image starts with file offset 0
            c.base, c.end = min(c.base, m.base), max(c.end, m.end)
        if m.load_bias is not None and c.bias is None:
            c.bias = m.load_bias
    if not cands:
        for path, base, bias in linkmap.walk(snapshot):
            cands[path] = _Candidate(path, base, base, None, bias=bias, base_from_bias=True)
    out = [_resolve(snapshot, c, sysroot) for c in cands.values()]
    vdso = _vdso(snapshot, sysroot)
    if vdso is not None:
        # a dump may list the vdso as a module by its soname (linux-vdso.so.1), with no
        # file to read: its symbols come from the image in memory, under that name
        at = vdso.module.base
        named = [m for m in out if m.module.base <= at < m.module.end]
        if not named:
            out.append(vdso)
        elif named[0].file is None and vdso.file is not None:
            renamed = replace(vdso.module, path=named[0].module.path)
            out[out.index(named[0])] = replace(vdso, module=renamed)
    return sorted(out, key=lambda m: (m.module.base, m.module.end))


def _resolve(snapshot: Snapshot, c: _Candidate, sysroot: str | None,
             local: str | None = None) -> ModuleFile:  # fmt: skip
    target_id = c.build_id or linkmap.build_id_in_memory(snapshot, c.base)
    local = local or _local_file(snapshot, c, sysroot)
    if local is None:
        return ModuleFile(_module(c, c.base, c.end, c.bias, target_id), problem=(
            "file not found" + (f" under {sysroot}" if sysroot else "")))
    if not is_elf(local)[0]:
        # a data file mapped into the target (locale archives, caches): a region with a
        # name, not a module with symbols -- nothing is missing, so no problem to report
        return ModuleFile(_module(c, c.base, c.end, c.bias, target_id))
    try:
        with ElfFile(local) as elf:
            file_id = elf.build_id()
            bias = c.bias
            if bias is None:
                start, offset = c.mapping if c.mapping is not None else (c.base, 0)
                bias = elf.bias_for_mapping(start, offset)
            base, end = c.base, c.end
            if c.base_from_bias and bias is not None and elf.loads:
                base = bias + elf.image_base()
            if end <= base and bias is not None and elf.loads:
                end = bias + max(s.vaddr + s.memsz for s in elf.loads)
    except MemlensError as e:
        return ModuleFile(_module(c, c.base, c.end, c.bias, target_id), problem=str(e))
    module = ModuleFile(_module(c, base, end, bias, target_id), local, file_id)
    if target_id and file_id and target_id != file_id:
        return replace(module, file=None, problem=(
            f"build id of {local} is {file_id.hex()}, the target's is {target_id.hex()}"))
    if not target_id and c.debug_id and file_id:
        # older Breakpad dumps keep only the GUID form of the build id (RSDS record):
        # compare the GUIDs (the age digits after them differ by writer)
        from memlens.sources.minidump.codeview import elf_debug_id

        mine = elf_debug_id(file_id)
        if mine[:32].upper() != c.debug_id[:32].upper():
            return replace(module, file=None, problem=(
                f"debug id of {local} is {mine}, the target's is {c.debug_id}"))
    return module


def _module(c: _Candidate, base: int, end: int, bias: int | None,
            build_id: bytes | None) -> Module:  # fmt: skip
    return Module(c.path, base, end, build_id, c.debug_id, bias)

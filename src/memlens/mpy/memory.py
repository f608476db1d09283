"""The memory a heap analysis reads: what the target saved, plus the firmware's own bytes.

* A live process is read once, region by region, into memory: only the
  regions a heap and its roots can be in (anonymous memory, ``[heap]``,
  stacks, the interpreter's own file); never ``[vvar]``, ``[vsyscall]``,
  ``[vdso]``, shared libraries or unreadable ranges.  The process is only read.
* A position-independent firmware (the unix port is a PIE) is relocated by the
  load bias: from the regions naming its file, else from its ELF header found
  in memory, else from the structure of the heap's own type objects
  (:func:`bias_from_types`), else from where the area record sits in
  ``mp_state_ctx`` (:func:`bias_from_record`).
* A core names its executables (NT_FILE): one still on disk with the build id
  the core saved fills the core's gaps when no firmware image is given.
* The firmware file's bytes (an ELF's PT_LOAD contents, a ``.bin`` at the start
  of flash) fill what the dump left out -- ``gcore`` and the kernel skip
  unmodified read-only file pages, where type names and qstrs live.  Bytes
  the dump saved always win.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass, field

from memlens.core.addrspace import AddressSpace, ByteOrder, Segment
from memlens.core.backing import BufferBacking
from memlens.core.region import Region, RegionKind
from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError, MemlensError
from memlens.mpy.heap import MpyHeap
from memlens.mpy.symbols import FirmwareImage, FirmwareSymbols

#: regions never read from a live process: kernel pages, and ones that may fault
SKIP_KINDS = frozenset({RegionKind.VVAR, RegionKind.VSYSCALL, RegionKind.VDSO,
                        RegionKind.SPECIAL})  # fmt: skip
_SHARED_LIBRARY = re.compile(r"\.so(\.\d+)*$")
_CHUNK = 1 << 20
#: errors that another word size or byte order may cure
NOT_FOUND = ("no MicroPython GC heap found", "no consistent heap area record")


@dataclass(slots=True)
class HeapMemory:
    """The address space to analyse, the symbols placed in it, and what was done."""

    space: AddressSpace
    symbols: FirmwareSymbols | None
    notes: list[str] = field(default_factory=list)


def wanted_live_region(region: Region) -> bool:
    """Whether a live region can hold heap, roots, type objects or qstrs."""
    if region.kind in SKIP_KINDS or not region.perms.read:
        return False
    if region.path is not None and _SHARED_LIBRARY.search(os.path.basename(region.path)):
        return False
    return not region.name.startswith("/dev/")


def _copy_region(space: AddressSpace, region: Region) -> list[tuple[int, bytes]]:
    """The readable parts of ``region``, a chunk at a time (a failing chunk is skipped)."""
    out: list[tuple[int, bytes]] = []
    at = region.start
    while at < region.end:
        size = min(_CHUNK, region.end - at)
        try:
            data = space.read(at, size)
        except MemlensError:
            data = b""
        if len(data) == size:
            if out and out[-1][0] + len(out[-1][1]) == at:
                out[-1] = (out[-1][0], out[-1][1] + data)
            else:
                out.append((at, data))
        at += size
    return out


def copy_live(snapshot: Snapshot) -> tuple[AddressSpace, list[str]]:
    """The regions of a live process a heap analysis needs, copied into memory."""
    space = snapshot.space
    segments: list[Segment] = []
    skipped = 0
    for region in space.regions:
        if not wanted_live_region(region):
            continue
        parts = _copy_region(space, region)
        skipped += region.size - sum(len(d) for _, d in parts)
        segments += [Segment(a, a + len(d), BufferBacking(d)) for a, d in parts]
    notes = [f"{skipped} bytes of wanted regions were unreadable"] if skipped else []
    copied = AddressSpace(space.regions, segments, word_size=space.word_size,
                          byteorder=space.byteorder)  # fmt: skip
    return copied, notes


def with_word(space: AddressSpace, word_size: int, byteorder: ByteOrder) -> AddressSpace:
    """``space`` read with another word size or byte order (the same saved bytes)."""
    if (space.word_size, space.byteorder) == (word_size, byteorder):
        return space
    return AddressSpace(space.regions, _saved_segments(space), word_size=word_size,
                        byteorder=byteorder)  # fmt: skip


def analyse_any_word(
    space: AddressSpace,
    source: str,
    symbols: FirmwareSymbols | None,
    fixed: bool,
    bounds: tuple[int, int] | None = None,
) -> MpyHeap:
    """:func:`analyse` with the space's word size and byte order, then (unless
    ``fixed``) with the others; the error names every one tried.

    Raises:
        FormatError: no heap with any word size and byte order.
    """
    from memlens.mpy.heap import analyse

    tried: list[str] = []
    orders: list[ByteOrder] = [space.byteorder, "big" if space.byteorder == "little" else "little"]
    combos = [(space.word_size, space.byteorder)]
    if not fixed:
        combos += [(w, o) for o in orders for w in (8, 4) if (w, o) not in combos]
    if bounds is not None and len(combos) > 1:
        combos = [_best_for_bounds(space, combos, bounds, source)]
    first: FormatError | None = None
    for ws, order in combos:
        try:
            return analyse(with_word(space, ws, order), source=source, symbols=symbols,
                           bounds=bounds)  # fmt: skip
        except FormatError as e:
            if not e.reason.startswith(NOT_FOUND):
                raise
            first = first or e
            tried.append(f"{ws * 8}-bit {order}-endian")
    assert first is not None
    raise FormatError(source, None, f"{first.reason}; tried {', '.join(tried)} words")


def _best_for_bounds(
    space: AddressSpace, combos: list[tuple[int, ByteOrder]], bounds: tuple[int, int], source: str
) -> tuple[int, ByteOrder]:
    """The word size and byte order whose carve of ``bounds`` has the most pointers
    landing on heads (the first listed on a tie)."""
    from memlens.mpy.bounds import locate_in_bounds
    from memlens.mpy.gather import PieceGather

    scored: list[tuple[float, int, tuple[int, ByteOrder]]] = []
    for rank, (ws, order) in enumerate(combos):
        try:
            _, score = locate_in_bounds(PieceGather(with_word(space, ws, order)), *bounds, source)
        except FormatError:
            continue
        scored.append((score, -rank, (ws, order)))
    return max(scored)[2] if scored else combos[0]


def _saved_segments(space: AddressSpace) -> list[Segment]:
    """The saved pieces of ``space`` as segments (unsaved ones would hide an overlay)."""
    return [Segment(start, end, seg.backing, seg.backing_offset + start - seg.start)
            for start, end, seg in space.saved_ranges()]  # fmt: skip


def _image_segments(images: list[FirmwareImage]) -> list[Segment]:
    out: list[Segment] = []
    maps: dict[str, BufferBacking | None] = {}
    for img in images:
        if img.path not in maps:
            try:
                with open(img.path, "rb") as f:
                    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
                maps[img.path] = BufferBacking(m)
            except (OSError, ValueError):
                maps[img.path] = None  # an empty file: nothing to add
        backing = maps[img.path]
        if backing is None or img.offset >= len(backing):
            continue
        size = min(img.size, len(backing) - img.offset)
        out.append(Segment(img.address, img.address + size, backing, img.offset))
    return out


def with_images(space: AddressSpace, images: list[FirmwareImage]) -> AddressSpace:
    """``space`` plus the firmware bytes where the dump saved nothing."""
    extra = _image_segments(images)
    if not extra:
        return space
    return AddressSpace(space.regions, _saved_segments(space) + extra,
                        word_size=space.word_size, byteorder=space.byteorder)  # fmt: skip


def bias_from_regions(regions: list[Region], fw: FirmwareSymbols) -> int | None:
    """The load bias from a mapping of the firmware's file (by its name)."""
    from memlens.symbols.elffile import ElfFile

    name = os.path.basename(fw.source)
    if name.endswith(".map"):
        name = name[: -len(".map")]
    elf_path = fw.source if not fw.source.endswith(".map") else None
    mapped = [r for r in regions if r.path and os.path.basename(r.path) == name]
    if not mapped:
        return None
    first = min(mapped, key=lambda r: r.offset)
    if elf_path is None:
        # a map gives no program headers: the file's first page is its lowest address
        return first.start - first.offset if first.offset == 0 else None
    try:
        with ElfFile(elf_path) as elf:
            return elf.bias_for_mapping(first.start, first.offset)
    except FormatError:
        return None


def bias_from_header(space: AddressSpace, fw: FirmwareSymbols) -> int | None:
    """The load bias from the firmware's ELF header found (page-aligned) in memory."""
    if fw.source.endswith(".map"):
        return None
    try:
        with open(fw.source, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if len(head) < 52 or head[:4] != b"\x7fELF":
        return None
    for hit in space.find(head, align=4096):
        return hit  # a PIE's first PT_LOAD maps file offset 0 at link address 0
    return None


def bias_from_types(space: AddressSpace, fw: FirmwareSymbols) -> int | None:
    """The load bias that puts ``mp_type_type`` where the heap's objects say it is.

    Found without symbols: the one object that is its own type and the type
    of every type object the heads point at.
    """
    from memlens.mpy.heap import analyse

    link = fw.addresses.get("mp_type_type")
    if link is None:
        return None
    try:
        found = analyse(space).types.type_type
    except MemlensError:
        return None
    return None if found is None else found - link


def bias_from_record(space: AddressSpace, fw: FirmwareSymbols) -> int | None:
    """The load bias that puts ``mp_state_ctx`` around the heap's area record.

    With DWARF the record's offset in ``mp_state_ctx`` is known; without it the
    bias is the one page-aligned value that puts the record in the first page
    of ``mp_state_ctx`` (a PIE moves by whole pages).
    """
    from memlens.mpy.gather import PieceGather
    from memlens.mpy.locate import locate_structural

    ctx = fw.addresses.get("mp_state_ctx")
    if ctx is None:
        return None
    try:
        found = locate_structural(PieceGather(space))
    except MemlensError:
        return None
    if found.record is None:
        return None
    member = fw.area_members.get("gc_alloc_table_start")
    if fw.area_offset is not None and member is not None:
        # the record as located starts at ``next`` (split heap) or at the ATB pointer
        atb_word = found.record + (space.word_size if found.layout.next_word is not None else 0)
        bias = atb_word - (ctx + fw.area_offset + member)
    else:
        delta = found.record - ctx
        bias = delta - delta % 4096
    return bias if bias % 4096 == 0 else None


def images_named_by_dump(snapshot: Snapshot) -> tuple[list[FirmwareImage], list[str]]:
    """PT_LOAD bytes of the executables a core names (NT_FILE) that are still on disk
    with the same build id, placed at their load bias."""
    from memlens.symbols.elffile import ElfFile

    images: list[FirmwareImage] = []
    named: list[str] = []
    for module in snapshot.modules:
        if module.build_id is None or _SHARED_LIBRARY.search(os.path.basename(module.path)):
            continue
        mapped = [r for r in snapshot.space.regions if r.path == module.path]
        if not mapped:
            continue
        first = min(mapped, key=lambda r: r.offset)
        try:
            with ElfFile(module.path) as elf:
                if elf.build_id() != module.build_id:
                    continue
                bias = elf.bias_for_mapping(first.start, first.offset)
                loads = list(elf.loads)
        except FormatError:
            continue
        if bias is None:
            continue
        images += [FirmwareImage(s.vaddr + bias, module.path, s.offset, s.filesz)
                   for s in loads if s.filesz]  # fmt: skip
        named.append(module.path)
    return images, named


def prepare(snapshot: Snapshot, fw: FirmwareSymbols | None) -> HeapMemory:
    """The address space and symbols to analyse ``snapshot`` with."""
    notes: list[str] = []
    space = snapshot.space
    if snapshot.format == "live":
        space, notes = copy_live(snapshot)
    if fw is not None and fw.word is not None:
        space = with_word(space, fw.word[0], "big" if fw.word[1] == "big" else "little")
    if fw is None:
        return HeapMemory(with_images(space, _named_images(snapshot, notes)), None, notes)
    if fw.position_independent:
        bias = bias_from_regions(space.regions, fw)
        how = "the mapping of its file"
        if bias is None:
            bias, how = bias_from_header(space, fw), "its ELF header in memory"
        if bias is None:
            bias, how = bias_from_types(space, fw), "the heap's type objects"
        if bias is None:
            bias, how = bias_from_record(space, fw), "the heap's area record in mp_state_ctx"
        if bias is None:
            notes.append(f"{os.path.basename(fw.source)} is position independent and its load "
                         "address was not found (no mapping of it, no ELF header, no type "
                         "objects in the dump): its symbols are not used")  # fmt: skip
            return HeapMemory(space, None, notes)
        fw = fw.relocated(bias)
        notes.append(f"{os.path.basename(fw.source)} loaded at bias {bias:#x} (from {how})")
    # a map without an image: the executable the core names, if any
    images = fw.images or _named_images(snapshot, notes)
    return HeapMemory(with_images(space, images), fw, notes)


def _named_images(snapshot: Snapshot, notes: list[str]) -> list[FirmwareImage]:
    images, named = images_named_by_dump(snapshot)
    if images:
        notes.append(f"bytes the dump left out read from {', '.join(named)} "
                     "(named by the dump, same build id)")  # fmt: skip
    return images

"""Firmware symbols for the heap: ``mp_state_ctx`` and the ``mp_type_*`` objects.

From an ELF (its symbol table, and with DWARF the member offsets of
``mp_state_ctx_t.mem.area`` and of ``mp_state_mem_area_t`` -- nothing is
hard-coded), or from a GNU ld map plus the firmware ``.bin`` (the static type
objects and qstrs live in flash, so the image is mapped where the map says
flash begins).  Without DWARF the area record is found by the structural
probe, limited to ``mp_state_ctx``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from memlens.errors import FormatError
from memlens.mpy.gather import PieceGather
from memlens.mpy.layout import AreaLayout, HeapArea
from memlens.mpy.locate import Located, candidates, locate_structural
from memlens.mpy.state_fields import StateFields, flatten
from memlens.mpy.types import TypeInfo, TypeMap
from memlens.symbols.symtable import SymbolTable
from memlens.unwind.leb128 import Leb128Error, read_leb128

TYPE_PREFIX = "mp_type_"
LETTER_BY_SYMBOL: dict[str, str] = {
    "mp_type_tuple": "T", "mp_type_list": "L", "mp_type_dict": "D", "mp_type_str": "S",
    "mp_type_bytes": "S", "mp_type_bytearray": "A", "mp_type_array": "A",
    "mp_type_float": "F", "mp_type_fun_bc": "B", "mp_type_module": "M",
}  # fmt: skip
# The name Python gives a type (its ``name`` qstr in MicroPython's sources) where
# the C symbol differs: used when the dump does not hold the qstr text, so names
# stay the same with and without it.
PYTHON_NAME_BY_SYMBOL: dict[str, str] = {
    "mp_type_fun_bc": "function", "mp_type_fun_builtin_0": "function",
    "mp_type_fun_builtin_1": "function", "mp_type_fun_builtin_2": "function",
    "mp_type_fun_builtin_3": "function", "mp_type_fun_builtin_var": "function",
    "mp_type_fun_native": "function", "mp_type_fun_viper": "function",
    "mp_type_fun_asm": "function", "mp_type_range_it": "iterator",
    "mp_type_array_it": "iterator", "mp_type_polymorph_iter": "iterator",
    "mp_type_gen_wrap": "generator", "mp_type_native_gen_wrap": "generator",
    "mp_type_gen_instance": "generator", "mp_type_native_gen_instance": "generator",
    "mp_type_bound_meth": "bound_method", "mp_type_attrtuple": "tuple",
    "mp_type_vfs_posix": "VfsPosix", "mp_type_vfs_posix_fileio": "FileIO",
    "mp_type_vfs_posix_textio": "TextIOWrapper",
}  # fmt: skip
AREA_FIELDS = ("next", "gc_alloc_table_start", "gc_alloc_table_byte_len",
               "gc_finaliser_table_start", "gc_pool_start", "gc_pool_end")  # fmt: skip
MAX_AREAS = 256
CTX_WINDOW = 4096


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    """``size`` bytes of file ``path`` from ``offset``, found in the target at ``address``."""

    address: int
    path: str
    offset: int
    size: int


@dataclass(slots=True)
class FirmwareSymbols:
    source: str
    addresses: dict[str, int] = field(default_factory=dict)
    area_offset: int | None = None  # of mem.area inside mp_state_ctx (DWARF)
    area_members: dict[str, int] = field(default_factory=dict)  # (DWARF)
    images: list[FirmwareImage] = field(default_factory=list)  # file bytes at link addresses
    table: SymbolTable | None = None  # for naming roots
    position_independent: bool = False  # a PIE: every address moves by the load bias
    bias: int = 0  # added to every link-time address (see :meth:`relocated`)
    word: tuple[int, str] | None = None  # (word size, byte order) of an ELF's class
    state_fields: StateFields | None = None  # named words of mp_state_ctx (DWARF)

    def relocated(self, bias: int) -> FirmwareSymbols:
        """The same symbols with ``bias`` added to every address."""
        return replace(
            self, bias=self.bias + bias,
            addresses={k: v + bias for k, v in self.addresses.items()},
            images=[replace(i, address=i.address + bias) for i in self.images],
        )  # fmt: skip

    def names(self, addresses: list[int]) -> list[str | None]:
        """``symbol+offset`` for each address, ``None`` where no symbol holds it."""
        if self.table is None or not addresses:
            return [None] * len(addresses)
        pos, off = self.table.lookup([a - self.bias for a in addresses])
        ctx = self.addresses.get("mp_state_ctx")
        out: list[str | None] = []
        for a, p, o in zip(addresses, pos.tolist(), off.tolist(), strict=True):
            field = None
            if ctx is not None and self.state_fields is not None and a >= ctx:
                field = self.state_fields.name(a - ctx)
            if field is None and p >= 0:
                field = f"{self.table.name(p)}+{o:#x}" if o else self.table.name(p)
            out.append(field)
        return out


def _member_offset(die: Any) -> int | None:
    attr = die.attributes.get("DW_AT_data_member_location")
    if attr is None:
        return 0 if die.tag == "DW_TAG_member" else None  # union-like: first member at 0
    if isinstance(attr.value, int):
        return attr.value
    # DW_OP_plus_uconst <n> (old DWARF): opcode 0x23 then ULEB128
    raw = list(attr.value)
    if raw and raw[0] == 0x23:
        try:
            return read_leb128(raw, 1, len(raw), signed=False)[0]
        except Leb128Error:
            return None
    return None


def _structs(path: str) -> tuple[dict[str, dict[str, tuple[int, Any]]], StateFields | None]:
    """``struct name -> member -> (offset, member DIE)`` for the mp_state structs, and
    the named leaves of ``mp_state_ctx_t``."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    wanted = {"_mp_state_ctx_t", "_mp_state_mem_t", "_mp_state_mem_area_t"}
    out: dict[str, dict[str, tuple[int, Any]]] = {}
    fields: StateFields | None = None
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if not elf.has_dwarf_info():
                return out, None
            word_size = elf.elfclass // 8
            dwarf = elf.get_dwarf_info()
            for cu in dwarf.iter_CUs():
                for die in cu.iter_DIEs():
                    if die.tag != "DW_TAG_structure_type":
                        continue
                    name = die.attributes.get("DW_AT_name")
                    if name is None or name.value.decode(errors="replace") not in wanted:
                        continue
                    sname = name.value.decode()
                    if sname in out or not die.has_children:
                        continue
                    members = {}
                    for child in die.iter_children():
                        mname = child.attributes.get("DW_AT_name")
                        off = _member_offset(child)
                        if child.tag == "DW_TAG_member" and mname is not None and off is not None:
                            members[mname.value.decode()] = (off, child)
                    out[sname] = members
                    if sname == "_mp_state_ctx_t":
                        fields = flatten(die, "mp_state_ctx", word_size)
                if len(out) == len(wanted):
                    break
    except (OSError, ELFError, ValueError, KeyError, AttributeError) as e:
        raise FormatError(path, None, f"cannot read DWARF: {e}") from None
    return out, fields


def from_elf(path: str) -> FirmwareSymbols:
    """Symbols (and DWARF layouts when present) of a firmware ELF.

    Raises:
        FormatError: not a readable ELF file.
    """
    from memlens.symbols.elffile import ET_DYN, ElfFile
    from memlens.symbols.elfsyms import symbols_of

    table = symbols_of(path)
    with ElfFile(path) as elf:
        images = [FirmwareImage(s.vaddr, path, s.offset, s.filesz) for s in elf.loads if s.filesz]
        pie = elf.type == ET_DYN
        word = (elf.word_size, "little" if elf.order == "<" else "big")
    fw = FirmwareSymbols(path, images=images, table=table, position_independent=pie, word=word)
    for sym in table:
        if sym.name == "mp_state_ctx" or sym.name.startswith(TYPE_PREFIX):
            fw.addresses.setdefault(sym.name, sym.address)
    structs, fw.state_fields = _structs(path)
    ctx, mem, area = (structs.get(k) for k in
                      ("_mp_state_ctx_t", "_mp_state_mem_t", "_mp_state_mem_area_t"))  # fmt: skip
    if ctx and mem and area and "mem" in ctx and "area" in mem:
        fw.area_offset = ctx["mem"][0] + mem["area"][0]
        fw.area_members = {k: v[0] for k, v in area.items() if k in AREA_FIELDS}
    return fw


def from_map(map_path: str, bin_path: str | None) -> FirmwareSymbols:
    """Symbols from a GNU ld map; the ``.bin`` is mapped at the start of flash.

    Raises:
        FormatError: the map cannot be read.
    """
    from memlens.symbols.ldmap import load_map

    lmap = load_map(map_path)
    fw = FirmwareSymbols(map_path, table=lmap.table(map_path))
    for s in lmap.symbols:
        wanted = s.name == "mp_state_ctx" or s.name.startswith(TYPE_PREFIX)
        if wanted and not s.assigned:
            fw.addresses.setdefault(s.name, s.address)
    # Linked at 0 with no image to place: a position-independent executable (unix port).
    lowest = min((s.address for s in lmap.sections if s.size and s.address), default=0)
    fw.position_independent = bin_path is None and lowest < 0x10000
    if bin_path is not None:
        code = [r for r in lmap.memory if "x" in r.attributes.lower()]

        def in_code(addr: int) -> bool:
            return not code or any(r.origin <= addr < r.origin + r.length for r in code)

        starts = [s.address for s in lmap.sections if s.size and s.address and in_code(s.address)]
        if not starts:
            raise FormatError(map_path, None, "no loaded section to place the firmware image at")
        try:
            size = os.path.getsize(bin_path)
        except OSError as e:
            raise FormatError(bin_path, None, e.strerror or str(e)) from None
        fw.images = [FirmwareImage(min(starts), bin_path, 0, size)]
    return fw


def locate_with_symbols(mem: PieceGather, fw: FirmwareSymbols, source: str) -> Located | None:
    """The areas from ``mp_state_ctx``; ``None`` when the symbol is missing."""
    ctx = fw.addresses.get("mp_state_ctx")
    if ctx is None:
        return None
    needed = {"gc_alloc_table_start", "gc_alloc_table_byte_len", "gc_pool_start", "gc_pool_end"}
    if fw.area_offset is not None and needed <= set(fw.area_members):
        return _from_dwarf(mem, fw, ctx + fw.area_offset, source)
    # No DWARF: probe the known layouts; the first area's record must lie in mp_state_ctx.
    cands = candidates(mem)  # one pass over every word, shared by both tries below
    try:
        found = locate_structural(mem, source, cands)
    except FormatError:
        found = None
    if found is not None and found.record is not None and ctx <= found.record < ctx + CTX_WINDOW:
        found.method = "symbols (mp_state_ctx) + layout probe"
        return found
    near = [c for c in cands if ctx <= c.word_address < ctx + CTX_WINDOW]
    if not near:
        raise FormatError(source, ctx, "no consistent heap area record inside mp_state_ctx")
    near.sort(key=lambda c: c.word_address)
    c = near[0]
    a = c.area
    area = HeapArea(c.word_address, a.atb_start, a.atb_len, a.ftb_start, a.pool_start, a.pool_end)
    return Located([area], c.layout, "symbols (mp_state_ctx) + layout probe", c.word_address)


def _from_dwarf(mem: PieceGather, fw: FirmwareSymbols, first: int, source: str) -> Located:
    m = fw.area_members
    finaliser = "gc_finaliser_table_start" in m
    layout = AreaLayout("DWARF", finaliser, 1, -1 if "next" in m else None)
    areas: list[HeapArea] = []
    rec: int | None = first
    seen: set[int] = set()
    while rec and rec not in seen and len(areas) < MAX_AREAS:
        seen.add(rec)
        vals = {k: mem.space.word(rec + off) for k, off in m.items()}
        if any(v is None for v in vals.values()):
            raise FormatError(source, rec, "heap area record not saved in the dump")
        v: dict[str, int] = {k: int(x) for k, x in vals.items() if x is not None}
        nxt = v.get("next") or None
        areas.append(HeapArea(rec, v["gc_alloc_table_start"], v["gc_alloc_table_byte_len"],
                              v.get("gc_finaliser_table_start"), v["gc_pool_start"],
                              v["gc_pool_end"], nxt))  # fmt: skip
        rec = nxt
    for a in areas:
        if not (a.pool_end > a.pool_start and a.atb_len
                and (a.pool_end - a.pool_start) % (a.atb_len * 4) == 0):  # fmt: skip
            raise FormatError(source, a.record, "heap area record is inconsistent")
    return Located(areas, layout, "symbols (mp_state_ctx) + DWARF", first)


def type_map(fw: FirmwareSymbols, structural: TypeMap | None) -> TypeMap:
    """Types named by symbols, on top of what structure found (user classes).

    A type keeps the name Python gives it (its ``name`` qstr, as found by
    structure: ``function``, not the C symbol ``mp_type_fun_bc``), so names are
    the same with and without symbols; the symbol names only the types that
    have no readable name of their own.
    """
    types = dict(structural.types) if structural else {}
    for name, addr in fw.addresses.items():
        if name.startswith(TYPE_PREFIX):
            known = types.get(addr)
            letter = LETTER_BY_SYMBOL.get(name, "h")
            short = known.name if known is not None else PYTHON_NAME_BY_SYMBOL.get(
                name, name[len(TYPE_PREFIX) :])  # fmt: skip
            types[addr] = TypeInfo(addr, short, letter, True)
    return TypeMap(structural.type_type if structural else fw.addresses.get("mp_type_type"),
                   types, by_symbol=True)  # fmt: skip

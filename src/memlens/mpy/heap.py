"""One analysed heap: areas, block states, numbers, heads and their types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace
from memlens.errors import FormatError
from memlens.mpy.atb import GcInfo, States, block_lengths, decode_states, gc_info, heads
from memlens.mpy.bounds import locate_in_bounds
from memlens.mpy.gather import PieceGather
from memlens.mpy.layout import AT_FREE, AT_MARK, AT_TAIL, AreaLayout, HeapArea
from memlens.mpy.locate import Located, locate_structural
from memlens.mpy.qstr import QstrTable, find_pools
from memlens.mpy.symbols import FirmwareSymbols, locate_with_symbols, type_map
from memlens.mpy.types import TypeMap, identify


@dataclass(slots=True)
class Heads:
    """Every allocation, across areas, in list order (area, then address)."""

    area: npt.NDArray[np.int64]
    block: npt.NDArray[np.int64]
    address: npt.NDArray[np.uint64]
    blocks: npt.NDArray[np.int64]
    first_word: npt.NDArray[np.uint64]
    letter: npt.NDArray[np.uint8]


@dataclass(slots=True)
class MpyHeap:
    space: AddressSpace
    gather: PieceGather
    areas: list[HeapArea]
    layout: AreaLayout
    method: str
    states: list[States]
    info: GcInfo
    block_size: int
    warnings: list[str]
    source: str = "memory"
    symbols: FirmwareSymbols | None = None
    _types: TypeMap | None = None
    _qstrs: QstrTable | None = None
    _heads: Heads | None = None
    _head_words: tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.uint64]]] | None = None

    @property
    def word_size(self) -> int:
        return self.space.word_size

    def in_heap(self, address: int) -> bool:
        return any(a.pool_start <= address < a.pool_end for a in self.areas)

    @property
    def qstrs(self) -> QstrTable:
        if self._qstrs is None:
            self._qstrs = find_pools(self.gather)
        return self._qstrs

    def _head_arrays(self) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.uint64]]]:
        """Head block indices and first words per area (computed once: types and heads use them)."""
        if self._head_words is None:
            self._head_words = self._find_heads()
        return self._head_words

    def _find_heads(self) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.uint64]]]:
        idx = [heads(s) for s in self.states]
        fws = []
        for area, h in zip(self.areas, idx, strict=True):
            pool = self.space.view(area.pool_start, area.pool_end - area.pool_start)
            if pool is None:
                raise FormatError(self.source, area.pool_start, "heap pool not saved in the dump")
            words = pool.view(self.gather.dtype)
            per_block = self.block_size // self.word_size
            fws.append(words[h * per_block].astype(np.uint64))
        return idx, fws

    @property
    def types(self) -> TypeMap:
        if self._types is None:
            _, fws = self._head_arrays()
            allfw = np.concatenate(fws) if fws else np.zeros(0, dtype=np.uint64)
            known = self.symbols.addresses.get("mp_type_type") if self.symbols else None
            found = identify(self.gather, allfw, self.qstrs, self.in_heap, known)
            self._types = type_map(self.symbols, found) if self.symbols else found
        return self._types

    def place_names(self, addresses: list[int]) -> list[str | None]:
        """A name for each address outside the heap: the symbol or ``mp_state_ctx``
        field holding it, else its region (``[stack]+0x1f0``), else ``None``."""
        names = self.symbols.names(addresses) if self.symbols else [None] * len(addresses)
        out: list[str | None] = []
        for a, n in zip(addresses, names, strict=True):
            if n is None:
                region = self.space.region_at(a)
                if region is not None and region.name:
                    label = region.name if region.name.startswith("[") else \
                        region.name.rsplit("/", 1)[-1]  # fmt: skip
                    n = f"{label}+{a - region.start:#x}"
            out.append(n)
        return out

    def type_warning(self) -> str | None:
        """One sentence when object types cannot be told exactly: what is missing and
        what to pass.  The table then shows such objects as ``h``."""
        missing = self.types.missing(len(self.heads.address))
        if missing is None:
            return None
        return (f"{missing}: objects of those types are shown as 'h' / (data), so the "
                "table is not exact; pass the firmware's --elf FW.elf, or --map FW.map "
                "(with --bin FW.bin for flash)")  # fmt: skip

    @property
    def heads(self) -> Heads:
        if self._heads is None:
            idx, fws = self._head_arrays()
            parts_area, parts_addr, parts_len = [], [], []
            for i, (area, h, s) in enumerate(zip(self.areas, idx, self.states, strict=True)):
                parts_area.append(np.full(len(h), i, dtype=np.int64))
                parts_addr.append(np.uint64(area.pool_start) + h.astype(np.uint64)
                                  * np.uint64(self.block_size))  # fmt: skip
                parts_len.append(block_lengths(s, h))
            fw = np.concatenate(fws)
            self._heads = Heads(
                area=np.concatenate(parts_area), block=np.concatenate(idx),
                address=np.concatenate(parts_addr), blocks=np.concatenate(parts_len),
                first_word=fw, letter=self.types.letter_codes(fw),
            )  # fmt: skip
        return self._heads

    def block_chars(self, *, typed: bool = True) -> list[npt.NDArray[np.uint8]]:
        """One ``gc_dump_alloc_table`` character per block, per area."""
        lut = np.frombuffer(b".h=m", dtype=np.uint8)
        out = [lut[s] for s in self.states]
        if typed:
            hd = self.heads
            for i, chars in enumerate(out):
                sel = hd.area == i
                blocks = hd.block[sel]
                letters = hd.letter[sel]
                unmarked = self.states[i][blocks] != AT_MARK
                chars[blocks[unmarked]] = letters[unmarked]
        return out


def analyse(
    space: AddressSpace,
    *,
    source: str = "memory",
    symbols: FirmwareSymbols | None = None,
    bounds: tuple[int, int] | None = None,
) -> MpyHeap:
    """Find and decode the heap in ``space`` (``bounds``: the heap's memory, given).

    Raises:
        FormatError: no heap, or its tables are not saved in the dump.
    """
    mem = PieceGather(space)
    if bounds is not None:
        loc: Located | None = locate_in_bounds(mem, bounds[0], bounds[1], source)[0]
    else:
        loc = locate_with_symbols(mem, symbols, source) if symbols else None
    if loc is None:
        loc = locate_structural(mem, source)
    states = []
    for area in loc.areas:
        atb = space.view(area.atb_start, area.atb_len)
        if atb is None:
            raise FormatError(source, area.atb_start, "allocation table not saved in the dump")
        states.append(decode_states(atb))
    bsz = 4 * space.word_size
    info = gc_info(states, [a.pool_end - a.pool_start for a in loc.areas], bsz)
    return MpyHeap(space, mem, loc.areas, loc.layout, loc.method, states, info, bsz,
                   list(loc.warnings), source, symbols)  # fmt: skip


__all__ = ["AT_FREE", "AT_TAIL", "Heads", "MpyHeap", "analyse"]

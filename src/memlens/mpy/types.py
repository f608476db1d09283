"""Object types of heap blocks, from the first word of each head block.

A head's first word is its ``mp_obj_type_t *`` when the block is an object.
Without symbols the types are recognised by structure: ``mp_type_type`` is
the one object whose type is itself, every type's own first word points at
it, and a type's name is the qstr in its 16-bit ``name`` member (after the
16-bit ``flags``).  Letters follow ``gc_dump_alloc_table``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from memlens.mpy.gather import PieceGather
from memlens.mpy.qstr import QstrTable

# gc_dump_alloc_table's letters, by the name of a static (non-heap) type.
LETTER_BY_TYPE_NAME: dict[str, str] = {
    "tuple": "T", "list": "L", "dict": "D", "str": "S", "bytes": "S",
    "bytearray": "A", "array": "A", "float": "F", "function": "B", "module": "M",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TypeInfo:
    address: int
    name: str
    letter: str
    static: bool  # False: a class defined in Python (its type object is on the heap)


@dataclass(slots=True)
class TypeMap:
    type_type: int | None
    types: dict[int, TypeInfo]
    by_symbol: bool = False
    unnamed: int = 0  # type objects whose name text is not in the dump

    def missing(self, heads: int) -> str | None:
        """What keeps the types from being exact, or ``None`` when nothing does."""
        if self.by_symbol or heads == 0:
            return None
        if self.type_type is None:
            return "the type objects (mp_type_*) are not in the dump"
        if self.unnamed:
            return f"the names (qstr text) of {self.unnamed} type objects are not in the dump"
        return None

    def letter_codes(self, first_words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
        """One letter byte per head (``h`` when the type is none of the lettered ones)."""
        out = np.full(len(first_words), ord("h"), dtype=np.uint8)
        for addr, info in self.types.items():
            if info.letter != "h":
                out[first_words == np.uint64(addr)] = ord(info.letter)
        return out

    def name_of(self, first_word: int) -> str | None:
        t = self.types.get(first_word)
        return None if t is None else t.name


def _type_name(mem: PieceGather, addr: int, qstrs: QstrTable) -> str | None:
    """The type's ``name`` qstr text; ``""`` when the type has none (``cell``);
    ``None`` when the text is not in the dump."""
    raw = mem.space.view(addr + mem.word_size, 4)
    if raw is None:
        return None
    q = int.from_bytes(raw[2:4].tobytes(), "little" if mem.space.byteorder == "little" else "big")
    name = qstrs.get(q)
    if name is None:
        return None
    return name if name.isidentifier() else ""


def identify(
    mem: PieceGather,
    first_words: npt.NDArray[np.uint64],
    qstrs: QstrTable,
    in_heap: Callable[[int], bool],
    known_type_type: int | None = None,
) -> TypeMap:
    """Types of the given head first words, found by structure (``known_type_type``:
    the address of ``mp_type_type`` from symbols, for dumps that do not hold it)."""
    uniq = np.unique(first_words)
    uniq = uniq[(uniq != 0) & (uniq % np.uint64(mem.word_size) == 0)]
    # A type object's own first word is mp_type_type, whose first word is itself.
    target, ok = mem.words_at(uniq)
    uniq, target = uniq[ok & (target != 0)], target[ok & (target != 0)]
    cands, counts = np.unique(target, return_counts=True)
    self_typed, ok2 = mem.words_at(cands)
    winners = cands[ok2 & (self_typed == cands)]
    type_type = known_type_type
    if type_type is None and len(winners):
        best = counts[ok2 & (self_typed == cands)]
        type_type = int(winners[int(np.argmax(best))])
    type_of = {int(t): int(v) for t, v in zip(uniq.tolist(), target.tolist(), strict=True)
               if v == type_type}  # fmt: skip
    types: dict[int, TypeInfo] = {}
    unnamed = 0
    if type_type is None:
        return TypeMap(None, types)
    for t, w in type_of.items():
        if w != type_type:
            continue
        name = _type_name(mem, t, qstrs)
        if name is None:
            unnamed += 1
            continue
        if not name:
            continue
        static = not in_heap(t)
        letter = LETTER_BY_TYPE_NAME.get(name, "h") if static else "h"
        types[t] = TypeInfo(t, name, letter, static)
    return TypeMap(type_type, types, unnamed=unnamed)

"""Names for the words of ``mp_state_ctx``, from DWARF: ``mp_state_ctx.vm.dict_main``
rather than ``mp_state_ctx+0x164``.

The struct is flattened once into leaves (offset, size, dotted path): nested
structs and unions are followed, arrays become ``name[i]`` (whole when long).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

_QUALIFIERS = ("DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type",
               "DW_TAG_restrict_type", "DW_TAG_atomic_type")  # fmt: skip
MAX_DEPTH = 8
MAX_ELEMENTS = 1024  # longer arrays are one leaf
MAX_LEAVES = 1 << 16


@dataclass(frozen=True, slots=True)
class StateFields:
    """Leaves of a struct, sorted by offset."""

    offsets: list[int]
    sizes: list[int]
    paths: list[str]

    def name(self, offset: int) -> str | None:
        """``path`` or ``path+0xN`` of the leaf holding ``offset``, or ``None``."""
        i = bisect.bisect_right(self.offsets, offset) - 1
        if i < 0 or offset >= self.offsets[i] + max(self.sizes[i], 1):
            return None
        inside = offset - self.offsets[i]
        return self.paths[i] + (f"+{inside:#x}" if inside else "")


def _resolved(die: Any) -> Any:
    """The type of ``die`` with typedefs and qualifiers stripped (``None``: void)."""
    seen = 0
    t = die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None
    while t is not None and t.tag in _QUALIFIERS and seen < 32:
        seen += 1
        t = t.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in t.attributes else None
    return t


def _count(array: Any) -> int | None:
    for sub in array.iter_children():
        if sub.tag != "DW_TAG_subrange_type":
            continue
        if "DW_AT_count" in sub.attributes:
            return int(sub.attributes["DW_AT_count"].value)
        if "DW_AT_upper_bound" in sub.attributes:
            return int(sub.attributes["DW_AT_upper_bound"].value) + 1
        return 0  # flexible array member
    return None


def _size(t: Any, word_size: int) -> int:
    if t is None:
        return 0
    if "DW_AT_byte_size" in t.attributes:
        return int(t.attributes["DW_AT_byte_size"].value)
    if t.tag == "DW_TAG_pointer_type":
        return word_size
    if t.tag == "DW_TAG_array_type":
        return (_count(t) or 0) * _size(_resolved(t), word_size)
    return 0


def _walk(t: Any, path: str, base: int, word_size: int, depth: int,
          out: list[tuple[int, int, str]]) -> None:  # fmt: skip
    if len(out) >= MAX_LEAVES:
        return
    if t is not None and depth < MAX_DEPTH and t.tag in ("DW_TAG_structure_type",
                                                         "DW_TAG_union_type"):  # fmt: skip
        for m in t.iter_children():
            name = m.attributes.get("DW_AT_name")
            if m.tag != "DW_TAG_member" or name is None:
                continue
            loc = m.attributes.get("DW_AT_data_member_location")
            off = loc.value if loc is not None and isinstance(loc.value, int) else 0
            _walk(_resolved(m), f"{path}.{name.value.decode(errors='replace')}", base + off,
                  word_size, depth + 1, out)  # fmt: skip
        return
    if t is not None and t.tag == "DW_TAG_array_type" and depth < MAX_DEPTH:
        count = _count(t) or 0
        elem = _resolved(t)
        size = _size(elem, word_size)
        if 0 < count <= MAX_ELEMENTS and size:
            for i in range(count):
                _walk(elem, f"{path}[{i}]", base + i * size, word_size, depth + 1, out)
            return
    out.append((base, _size(t, word_size), path))


def flatten(struct_die: Any, name: str, word_size: int) -> StateFields:
    """The leaves of the struct ``struct_die`` describes, named from ``name``."""
    leaves: list[tuple[int, int, str]] = []
    _walk(struct_die, name, 0, word_size, 0, leaves)
    leaves.sort()
    return StateFields([o for o, _, _ in leaves], [s for _, s, _ in leaves],
                       [p for _, _, p in leaves])  # fmt: skip

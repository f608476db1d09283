"""Live heap blocks as columns (numpy), their distinct stacks, and the profile around them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from memlens.core.module import Module
from memlens.heap.stats_table import frame_tuples
from memlens.symbols.modmap import ModuleFile

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

COLUMNS = ("address", "size", "seq", "tid", "period", "flags")


@dataclass(frozen=True, slots=True)
class HeapBlocks:
    """One row per live block; ``stack_id`` indexes ``stacks`` (tuples of return addresses).

    The empty stack ``()`` is a block recorded without a stack (allocated inside the
    unwinder, or not sampled).
    """

    address: U64
    size: U64
    seq: U64
    tid: U64
    period: U64
    flags: U64
    stack_id: I64
    stacks: list[tuple[int, ...]]

    def __len__(self) -> int:
        return len(self.address)

    @property
    def total_bytes(self) -> int:
        return int(self.size.sum(dtype=np.uint64))

    def take(self, mask: npt.NDArray[np.bool_]) -> HeapBlocks:
        """The rows where ``mask`` is true (stacks table shared)."""
        return HeapBlocks.from_columns(
            {c: getattr(self, c)[mask] for c in COLUMNS}, self.stack_id[mask], self.stacks
        )

    @staticmethod
    def concat(
        parts: Sequence[dict[str, U64]], table: Sequence[tuple[int, ...]] | None = None
    ) -> HeapBlocks:
        """Join scan results (``records.scan_words`` dicts) and intern their stacks.

        A part with a ``ref`` column (format-3 records, not expanded) names its
        stacks by index into ``table`` (the shim's stack table): each distinct
        index is mapped once; an index past the table is the empty stack.
        """
        parts = [p for p in parts if len(p["address"])]
        if not parts:
            z = np.zeros(0, dtype=np.uint64)
            return HeapBlocks.from_columns(
                dict.fromkeys(COLUMNS, z), np.zeros(0, dtype=np.int64), []
            )
        framed = [p for p in parts if "ref" not in p]
        refd = [p for p in parts if "ref" in p]
        ordered = framed + refd
        cols = {c: np.concatenate([p[c] for p in ordered]) for c in COLUMNS}
        stack_id, stacks = _intern_parts(framed)
        if refd:
            refs = np.concatenate([p["ref"] for p in refd])
            uniq, inverse = np.unique(refs, return_inverse=True)
            index = {s: k for k, s in enumerate(stacks)}
            mapped = np.empty(len(uniq), dtype=np.int64)
            for k, r in enumerate(uniq):
                r = int(r)
                key = table[r] if table is not None and r < len(table) else ()
                if key not in index:
                    index[key] = len(stacks)
                    stacks.append(key)
                mapped[k] = index[key]
            stack_id = np.concatenate([stack_id, mapped[inverse.reshape(-1)]])
        addr = cols["address"]
        if len(addr) > 1 and not bool(np.all(addr[1:] > addr[:-1])):
            order = np.argsort(addr, kind="stable")
            cols = {c: a[order] for c, a in cols.items()}
            stack_id = stack_id[order]
        return HeapBlocks.from_columns(cols, stack_id, stacks)

    @staticmethod
    def from_columns(
        columns: dict[str, U64], stack_id: I64, stacks: list[tuple[int, ...]]
    ) -> HeapBlocks:
        c = columns
        return HeapBlocks(
            c["address"], c["size"], c["seq"], c["tid"], c["period"], c["flags"], stack_id, stacks
        )


def _intern_parts(parts: Sequence[dict[str, U64]]) -> tuple[I64, list[tuple[int, ...]]]:
    """Stack ids of the rows of parts that carry their frames."""
    if not parts:
        return np.zeros(0, dtype=np.int64), []
    width = max(p["frames"].shape[1] for p in parts)
    frames = np.concatenate(
        [np.pad(p["frames"], ((0, 0), (0, width - p["frames"].shape[1]))) for p in parts]
    )
    nframes = np.concatenate([p["nframes"] for p in parts])
    return intern_stacks(frames, nframes)


def intern_stacks(frames: U64, nframes: U64) -> tuple[I64, list[tuple[int, ...]]]:
    """Distinct rows of ``frames`` (zero padded past ``nframes``): ids per row and the table.

    Rows are hashed in numpy, then unique hashes give groups; every row is
    compared with its group's first row, so a hash collision cannot merge two
    different stacks (colliding rows fall back to exact tuples).
    """
    n = len(frames)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    h = nframes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    columns = np.asfortranarray(frames)  # contiguous columns for the per-column mix
    with np.errstate(over="ignore"):
        for j in range(frames.shape[1]):
            h ^= columns[:, j]
            h *= np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    same = np.all(frames == frames[first[inverse]], axis=1) & (nframes == nframes[first[inverse]])
    stacks = frame_tuples(frames[first], nframes[first])
    ids = inverse.astype(np.int64)
    if not bool(same.all()):
        table = {s: k for k, s in enumerate(stacks)}
        for row in np.flatnonzero(~same):
            key = tuple(int(a) for a in frames[row, : int(nframes[row])])
            if key not in table:
                table[key] = len(stacks)
                stacks.append(key)
            ids[row] = table[key]
    return ids, stacks


@dataclass(slots=True)
class HeapProfile:
    """Blocks found in one target, with what is needed to symbolize and label them later."""

    blocks: HeapBlocks
    modules: list[Module]
    source: str
    format: str
    pid: int | None = None
    command_line: str | None = None
    reason: str | None = None
    time: float | None = None
    word_size: int = 8
    byteorder: str = "little"
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: the module map built while scanning (open files resolved); not saved in .mlheap
    loaded: list[ModuleFile] | None = field(default=None, repr=False, compare=False)

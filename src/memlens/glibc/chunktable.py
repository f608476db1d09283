"""The result of a glibc heap walk as columns: one row per chunk.

Shape (every column has one entry per chunk, rows sorted by address within
each arena's heap, arenas in discovery order, mmapped chunks last):

=========  ========  ==========================================================
column     dtype     meaning
=========  ========  ==========================================================
address    uint64    the chunk header (``prev_size`` field)
size       uint64    ``chunksize``: flags stripped; for mmapped chunks the
                     mapping's bytes less the alignment correction
state      uint8     a :class:`State` value
arena      int16     index into :attr:`HeapWalk.arenas`; -1 for mmapped chunks
bin        int16     tcache / fastbin / bin index for free chunks, else -1
=========  ========  ==========================================================

``user`` (the pointer ``malloc`` returned) is ``address + 2 words``;
``usable`` is what ``malloc_usable_size`` answers: ``size - 1 word`` (an
in-use chunk owns the next chunk's ``prev_size``), ``size - 2 words`` for
mmapped chunks.  Chunks in a tcache are *in use* for ``mallinfo2``; memlens
reports them as free (``TCACHE``) because no program pointer should reach them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from memlens.glibc.layout import Layout, MallocPar

U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
I16 = npt.NDArray[np.int16]


class State(enum.IntEnum):
    """What a chunk is, as the walk found it."""

    IN_USE = 0
    TCACHE = 1  # free, in a thread's tcache (in use for mallinfo2)
    FASTBIN = 2
    UNSORTED = 3
    SMALLBIN = 4
    LARGEBIN = 5
    TOP = 6
    MMAPPED = 7  # in use, its own mapping
    ALLOCATOR = 8  # malloc's own: a tcache_perthread_struct, a heap's fenceposts
    FREE_UNBINNED = 9  # free by its neighbour's PREV_INUSE bit, yet in no list (corruption)


FREE_STATES = (State.FASTBIN, State.UNSORTED, State.SMALLBIN, State.LARGEBIN)
BIN_STATES = (State.UNSORTED, State.SMALLBIN, State.LARGEBIN)


@dataclass(frozen=True, slots=True)
class ChunkTable:
    address: U64
    size: U64
    state: U8
    arena: I16
    bin: I16

    def __len__(self) -> int:
        return len(self.address)

    @staticmethod
    def concat(parts: list[ChunkTable]) -> ChunkTable:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return ChunkTable(np.zeros(0, np.uint64), np.zeros(0, np.uint64),
                              np.zeros(0, np.uint8), np.zeros(0, np.int16),
                              np.zeros(0, np.int16))  # fmt: skip
        return ChunkTable(
            np.concatenate([p.address for p in parts]),
            np.concatenate([p.size for p in parts]),
            np.concatenate([p.state for p in parts]),
            np.concatenate([p.arena for p in parts]),
            np.concatenate([p.bin for p in parts]),
        )


@dataclass(frozen=True, slots=True)
class Arena:
    """One ``malloc_state`` and the heaps it owns."""

    index: int
    address: int
    main: bool
    top: int
    top_size: int
    system_mem: int
    heaps: tuple[tuple[int, int], ...]  # [start, end) of the memory its chunks are in


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed integrity check, at ``address``; ``chunk`` is the chunk it concerns,
    ``previous`` the chunk before it (when known)."""

    check: str
    address: int
    message: str
    chunk: int | None = None
    previous: int | None = None
    words: tuple[int, ...] = ()  # the first words of ``previous`` (or ``chunk``) and on


@dataclass(slots=True)
class HeapWalk:
    """Everything the walk found.  ``method`` says how the arenas were found."""

    layout: Layout
    method: str
    arenas: list[Arena]
    chunks: ChunkTable
    mp: MallocPar | None = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    mmapped_corrections: int = 0  # bytes before mmapped chunks (their prev_size)
    tcaches: list[int] = field(default_factory=list)  # user addresses of tcache_perthread_structs
    tcache_wide: bool = True  # uint16 counts (2.30+), else char
    safe_linking: bool | None = None  # None: no list to tell by
    _usable: U64 | None = None

    def usable(self) -> U64:
        """Per chunk, what ``malloc_usable_size`` gives (cached: the table is final)."""
        if self._usable is None or len(self._usable) != len(self.chunks):
            w = np.uint64(self.layout.word)
            mm = self.chunks.state == State.MMAPPED
            self._usable = np.where(mm, self.chunks.size - 2 * w, self.chunks.size - w
                                    ).astype(np.uint64)  # fmt: skip
        return self._usable

    def user(self) -> U64:
        return self.chunks.address + np.uint64(self.layout.header)

    def mallinfo(self) -> dict[str, int]:
        """``mallinfo2()``'s figures, from the chunks the walk classified.

        ``arena`` is each arena's ``system_mem`` (read from the arena); the other
        counts come from the table, so they agree with glibc's only when every
        free chunk was found both in the walk and in its list.
        """
        c = self.chunks
        st = c.state
        free = np.isin(st, [int(s) for s in (*FREE_STATES, State.TOP)])
        mm = st == State.MMAPPED
        arena = sum(a.system_mem for a in self.arenas)
        fordblks = int(c.size[free].sum())
        main = [a for a in self.arenas if a.main]
        hblks, hblkhd = int(mm.sum()), self._mmapped_bytes()
        return {
            "arena": arena,
            "ordblks": int(np.isin(st, [int(s) for s in BIN_STATES]).sum()) + len(self.arenas),
            "smblks": int((st == State.FASTBIN).sum()),
            "hblks": hblks,
            "hblkhd": hblkhd,
            "uordblks": arena - fordblks,
            "fordblks": fordblks,
            "keepcost": main[0].top_size if main else 0,
        }

    def _mmapped_bytes(self) -> int:
        return int(self.chunks.size[self.chunks.state == State.MMAPPED].sum()) + int(
            self.mmapped_corrections
        )

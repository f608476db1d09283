"""glibc malloc's structures, as data: offsets per word size and per glibc era.

Read from glibc's ``malloc/malloc.c`` and ``malloc/arena.c`` (2.27 to 2.40) and
checked against ``ptype/o`` of the structures in Debian 12's libc 2.36 debug
info.  Which era a target is in is *detected*, never assumed from a version:
the arena variant is the one whose bins are self-linked (empty bins point at
themselves), the ``heap_info`` size is the one after which a chunk header with
PREV_INUSE sits, the tcache ``counts`` width comes from the tcache chunk's size.
"""

from __future__ import annotations

from dataclasses import dataclass

PREV_INUSE = 1
IS_MMAPPED = 2
NON_MAIN_ARENA = 4
FLAG_BITS = 7

NBINS = 128
TCACHE_BINS = 64


@dataclass(frozen=True, slots=True)
class Layout:
    """Sizes and offsets of one target's malloc.

    ``word`` is ``SIZE_SZ`` (= pointer size on the supported targets); chunk
    headers are two words; user memory starts two words into a chunk and must
    be ``align``-aligned (16 on x86_64 and, since 2.26, on i386 too).
    """

    word: int
    align: int = 16
    # malloc_state (struct malloc_state): offsets of the fields memlens reads
    have_fastchunks: bool = True
    heap_max: int = 64 << 20  # HEAP_MAX_SIZE (2 * DEFAULT_MMAP_THRESHOLD_MAX)

    @property
    def header(self) -> int:
        return 2 * self.word

    @property
    def min_chunk(self) -> int:
        """MINSIZE: the smallest chunk (fd/bk fit in it), rounded to the alignment."""
        return (4 * self.word + self.align - 1) & ~(self.align - 1)

    @property
    def fastbins(self) -> int:
        """Offset of ``fastbinsY``: after mutex, flags (and have_fastchunks since 2.27)."""
        ints = 3 if self.have_fastchunks else 2
        return (4 * ints + self.word - 1) & ~(self.word - 1)

    @property
    def nfastbins(self) -> int:
        """NFASTBINS = fastbin_index(request2size(MAX_FAST_SIZE)) + 1, MAX_FAST_SIZE being
        80 * SIZE_SZ / 4: 10 on 64-bit, 11 on i386 (request2size(80) = 96, index 10)."""
        max_fast = 80 * self.word // 4
        request = (max_fast + self.word + self.align - 1) & ~(self.align - 1)
        return self.fastbin_index(request) + 1

    @property
    def top(self) -> int:
        return self.fastbins + self.nfastbins * self.word

    @property
    def last_remainder(self) -> int:
        return self.top + self.word

    @property
    def bins(self) -> int:
        return self.top + 2 * self.word

    @property
    def next(self) -> int:
        """``next`` arena: after bins[NBINS*2-2] and binmap[4] (unsigned ints)."""
        return self.bins + (NBINS * 2 - 2) * self.word + 16

    @property
    def system_mem(self) -> int:
        # next, next_free, attached_threads, system_mem, max_system_mem
        return self.next + 3 * self.word

    @property
    def arena_size(self) -> int:
        return self.system_mem + 2 * self.word

    def bin_at(self, arena: int, i: int) -> int:
        """``bin_at(av, i)``: the fake chunk whose fd/bk are bins[2(i-1)] and [2(i-1)+1]."""
        return arena + self.bins + (i - 1) * 2 * self.word - 2 * self.word

    def fastbin_index(self, size: int) -> int:
        return (size >> (4 if self.word == 8 else 3)) - 2

    def tcache_index(self, size: int) -> int:
        return (size - self.min_chunk + self.align - 1) // self.align

    @property
    def first_chunk_misalign(self) -> int:
        """Where a chunk starts relative to the alignment: user memory (chunk + 2
        words) is aligned, so a chunk sits at ``-2 words mod align``."""
        return (-self.header) % self.align


def layouts_for(word: int) -> tuple[Layout, ...]:
    """The arena variants to try, newest first.  HEAP_MAX_SIZE is twice
    DEFAULT_MMAP_THRESHOLD_MAX: 4 MiB * sizeof(long) on 64-bit, 512 KiB on 32-bit."""
    heap_max = 64 << 20 if word == 8 else 1 << 20
    return (Layout(word, heap_max=heap_max), Layout(word, have_fastchunks=False,
                                                    heap_max=heap_max))


# struct malloc_par (mp_): offsets of (n_mmaps, mmapped_mem, sbrk_base), keyed by
# the object's size, which tells the era: 2.35 added thp_pagesize, hp_pagesize
# and hp_flags after arena_max.
MP_FIELDS: dict[tuple[int, int], tuple[int, int, int]] = {
    (8, 136): (60, 80, 96),  # 2.35+ with tcache
    (8, 112): (40, 56, 72),  # 2.26 - 2.34 with tcache
    (4, 76): (32, 48, 56),  # i386 2.35+
    (4, 64): (20, 36, 44),  # i386 2.26 - 2.34
}


@dataclass(frozen=True, slots=True)
class MallocPar:
    """What memlens reads of ``mp_``."""

    n_mmaps: int
    mmapped_mem: int
    sbrk_base: int
    # the first three fields, in every era: trim_threshold, top_pad, mmap_threshold
    trim_threshold: int = 0
    top_pad: int = 0
    mmap_threshold: int = 0

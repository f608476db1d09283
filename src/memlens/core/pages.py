"""Per-page state: Linux pagemap entries and kpageflags.

A :class:`PageTable` is what any source knows of a region's pages: the raw
64-bit pagemap entries (``Documentation/admin-guide/mm/pagemap.rst``), and,
when the PFNs were visible, the kpagecount and kpageflags of each present
page.  Sources that know less (memdump: resident or not) fill what they know
and say what is missing in ``unavailable``.

The columns are held as given -- numpy arrays, or raw native-endian uint64
buffers (``bytes``/``bytearray``/``memoryview``) as the live source reads them
-- and shown as numpy arrays on first use (a zero-copy view).  The text paths
of ``memlens pages`` hand the raw buffers to :mod:`memlens._pagewalk` and never
import numpy, whose import alone costs more than such a command's budget.
"""

from __future__ import annotations

# not typing.TYPE_CHECKING: typing is ~3 ms of `maps PID --json` (memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U64 = npt.NDArray[np.uint64]
    BOOL = npt.NDArray[np.bool_]
    #: a column as a source may give it: a uint64 array, or raw native-endian entries
    U64Data = bytes | bytearray | memoryview | U64

# pagemap entry bits
PFN_MASK = (1 << 55) - 1
SWAP_TYPE_MASK = 0x1F
SWAP_OFFSET_SHIFT = 5
BIT_SOFT_DIRTY = 55
BIT_EXCLUSIVE = 56
BIT_UFFD_WP = 57
BIT_GUARD = 58
BIT_FILE = 61
BIT_SWAPPED = 62
BIT_PRESENT = 63

#: pagemap entry bits with their display names, in display order
PAGEMAP_BITS: tuple[tuple[int, str], ...] = (
    (BIT_FILE, "file-page"),
    (BIT_EXCLUSIVE, "exclusive"),
    (BIT_SOFT_DIRTY, "soft-dirty"),
    (BIT_UFFD_WP, "uffd-wp"),
    (BIT_GUARD, "guard"),
)

#: /proc/kpageflags bits 0-26 (include/uapi/linux/kernel-page-flags.h)
KPAGEFLAG_NAMES: tuple[str, ...] = (
    "LOCKED", "ERROR", "REFERENCED", "UPTODATE", "DIRTY", "LRU", "ACTIVE", "SLAB",
    "WRITEBACK", "RECLAIM", "BUDDY", "MMAP", "ANON", "SWAPCACHE", "SWAPBACKED",
    "COMPOUND_HEAD", "COMPOUND_TAIL", "HUGE", "UNEVICTABLE", "HWPOISON", "NOPAGE",
    "KSM", "THP", "OFFLINE", "ZERO_PAGE", "IDLE", "PGTABLE",
)  # fmt: skip

#: "hacker" bits 32-41 shown only in raw mode (kernel page-types -r).  Bit 34 is
#: PG_mappedtodisk of page-cache pages (the kernel renamed the page flag PG_owner_2
#: in 6.10 and page-types calls it owner_2; filesystems still use it as
#: mappedtodisk); on anonymous pages it is PG_anon_exclusive (see KPAGEFLAG_OVERLOADS)
KPAGEFLAG_RAW_NAMES: dict[int, str] = {
    32: "RESERVED", 33: "MLOCKED", 34: "MAPPEDTODISK", 35: "PRIVATE", 36: "PRIVATE_2",
    37: "OWNER_PRIVATE", 38: "ARCH", 39: "UNCACHED", 40: "SOFTDIRTY", 41: "ARCH_2",
}  # fmt: skip

KPF_ERROR, KPF_ACTIVE, KPF_SLAB, KPF_WRITEBACK, KPF_RECLAIM, KPF_ANON = 1, 6, 7, 8, 9, 12
KPF_MAPPEDTODISK = 34

#: bits the kernel reuses by page kind, named the way ``page-types -r`` expands them:
#: (bit, mask, value, name) -- the bit is called ``name`` when ``flags & mask == value``
KPAGEFLAG_OVERLOADS: tuple[tuple[int, int, int, str], ...] = (
    # anonymous pages keep PG_anon_exclusive in PG_mappedtodisk's bit (Linux 5.19+)
    (KPF_MAPPEDTODISK, 1 << KPF_ANON, 1 << KPF_ANON, "ANON_EXCLUSIVE"),
    # PG_reclaim without writeback is PG_readahead (the read path)
    (KPF_RECLAIM, 1 << KPF_RECLAIM | 1 << KPF_WRITEBACK, 1 << KPF_RECLAIM, "READAHEAD"),
    # SLUB keeps its own state in page flags of slab pages
    (KPF_ACTIVE, 1 << KPF_SLAB, 1 << KPF_SLAB, "SLUB_FROZEN"),
    (KPF_ERROR, 1 << KPF_SLAB, 1 << KPF_SLAB, "SLUB_DEBUG"),
)

PUBLIC_FLAGS_MASK = (1 << len(KPAGEFLAG_NAMES)) - 1
RAW_FLAGS_MASK = PUBLIC_FLAGS_MASK | sum(1 << b for b in KPAGEFLAG_RAW_NAMES)


def _named(bit: int, name: str, flags: int, raw: bool) -> str:
    if raw:
        for b, mask, value, alias in KPAGEFLAG_OVERLOADS:
            if b == bit and flags & mask == value:
                return alias
    return name


def flag_names(flags: int, raw: bool = False) -> list[str]:
    """Names of the kpageflags bits set in ``flags`` (bits 32-41 too when ``raw``, and
    then overloaded bits named by page kind as ``page-types -r`` does)."""
    names = [_named(bit, n, flags, raw) for bit, n in enumerate(KPAGEFLAG_NAMES)
             if flags >> bit & 1]  # fmt: skip
    if raw:
        names += [_named(bit, n, flags, raw) for bit, n in KPAGEFLAG_RAW_NAMES.items()
                  if flags >> bit & 1]  # fmt: skip
    return names


#: the raw forms of a column (anything else is a numpy array)
_RAW = (bytes, bytearray, memoryview)


def _as_array(value: U64Data) -> U64:
    """``value`` as a uint64 array: itself, a converted copy, or a zero-copy view of a buffer."""
    import numpy as np

    if isinstance(value, _RAW):
        view: U64 = np.frombuffer(value, dtype=np.uint64)
        return view
    array: U64 = np.asarray(value, dtype=np.uint64)
    return array


def raw_u64(value: U64Data) -> U64Data:
    """``value`` as a C-contiguous native uint64 buffer for :mod:`memlens._pagewalk`.

    Raw buffers pass as they are; an array that is strided or of another dtype
    (``>u8``, int64) becomes a contiguous uint64 copy.
    """
    if isinstance(value, _RAW):
        return value
    import numpy as np

    array: U64 = np.ascontiguousarray(value, dtype=np.uint64)
    return array


def _u64_len(value: U64Data) -> int:
    if isinstance(value, _RAW):
        return memoryview(value).nbytes // 8
    return len(value)


class PageTable:
    """What is known of each page of one region ``[start, start + n*page_size)``.

    Attributes:
        start: address of the first page.
        page_size: bytes per page.
        entries: pagemap entries, one per page (a numpy array; see :attr:`entries_raw`).
        counts: kpagecount per page (0 where not present), or ``None``.
        flags: kpageflags per page (0 where not present), or ``None``.
        unavailable: why a kind of information is missing, keyed by
            ``"pfn"``, ``"count"``, ``"flags"``, ``"swap"``, ``"soft_dirty"``
            (or ``"pagemap"`` when there is no page table at all).
        partial: the table covers fewer pages than the region (a process
            exited mid-scan, a region above the task size...); ``entries``
            then covers only the first ``len(entries)`` pages.

    ``entries``, ``counts`` and ``flags`` may be given as uint64 arrays or as
    raw native-endian buffers; reading them as attributes gives numpy arrays
    (importing numpy), the ``*_raw`` properties give them as held, for
    :mod:`memlens._pagewalk`.
    """

    __slots__ = ("_counts", "_entries", "_flags", "page_size", "partial", "start", "unavailable")

    def __init__(
        self,
        start: int,
        page_size: int,
        entries: U64Data,
        counts: U64Data | None = None,
        flags: U64Data | None = None,
        unavailable: dict[str, str] | None = None,
        partial: str | None = None,
    ) -> None:
        self.start = start
        self.page_size = page_size
        self._entries = entries
        self._counts = counts
        self._flags = flags
        self.unavailable: dict[str, str] = {} if unavailable is None else unavailable
        self.partial = partial

    def __repr__(self) -> str:
        return (f"PageTable(start={self.start:#x}, page_size={self.page_size}, pages={len(self)}, "
                f"counts={self._counts is not None}, flags={self._flags is not None}, "
                f"unavailable={self.unavailable!r}, partial={self.partial!r})")  # fmt: skip

    def __len__(self) -> int:
        return _u64_len(self._entries)

    # -- columns: numpy views on first use, raw buffers for the C code ----------

    @property
    def entries(self) -> U64:
        array = self._entries = _as_array(self._entries)
        return array

    @entries.setter
    def entries(self, value: U64Data) -> None:
        self._entries = value

    @property
    def counts(self) -> U64 | None:
        if self._counts is None:
            return None
        array = self._counts = _as_array(self._counts)
        return array

    @counts.setter
    def counts(self, value: U64Data | None) -> None:
        self._counts = value

    @property
    def flags(self) -> U64 | None:
        if self._flags is None:
            return None
        array = self._flags = _as_array(self._flags)
        return array

    @flags.setter
    def flags(self, value: U64Data | None) -> None:
        self._flags = value

    @property
    def entries_raw(self) -> U64Data:
        """The entries as a contiguous native uint64 buffer, without importing numpy."""
        return raw_u64(self._entries)

    @property
    def counts_raw(self) -> U64Data | None:
        return None if self._counts is None else raw_u64(self._counts)

    @property
    def flags_raw(self) -> U64Data | None:
        return None if self._flags is None else raw_u64(self._flags)

    def entry(self, index: int) -> int:
        """The pagemap entry of page ``index`` (no numpy)."""
        raw = self.entries_raw
        if isinstance(raw, _RAW):
            value: int = memoryview(raw).cast("B").cast("Q")[index]
            return value
        return int(raw[index])

    # -- decoded bits (numpy) --------------------------------------------------

    def _bit(self, bit: int) -> BOOL:
        import numpy as np

        result: BOOL = (self.entries >> np.uint64(bit)) & np.uint64(1) == np.uint64(1)
        return result

    def addresses(self) -> U64:
        import numpy as np

        base = np.uint64(self.start)
        return base + np.arange(len(self), dtype=np.uint64) * np.uint64(self.page_size)

    @property
    def present(self) -> BOOL:
        return self._bit(BIT_PRESENT)

    @property
    def swapped(self) -> BOOL:
        return self._bit(BIT_SWAPPED)

    @property
    def file_or_shared(self) -> BOOL:
        return self._bit(BIT_FILE)

    @property
    def exclusive(self) -> BOOL:
        return self._bit(BIT_EXCLUSIVE)

    @property
    def soft_dirty(self) -> BOOL:
        return self._bit(BIT_SOFT_DIRTY)

    @property
    def uffd_wp(self) -> BOOL:
        return self._bit(BIT_UFFD_WP)

    @property
    def guard(self) -> BOOL:
        return self._bit(BIT_GUARD)

    @property
    def pfn(self) -> U64:
        """PFN of present pages (0 elsewhere, and 0 everywhere when hidden)."""
        import numpy as np

        return np.where(self.present, self.entries & np.uint64(PFN_MASK), np.uint64(0))

    @property
    def swap_type(self) -> U64:
        import numpy as np

        return np.where(self.swapped, self.entries & np.uint64(SWAP_TYPE_MASK), np.uint64(0))

    @property
    def swap_offset(self) -> U64:
        import numpy as np

        off = (self.entries & np.uint64(PFN_MASK)) >> np.uint64(SWAP_OFFSET_SHIFT)
        return np.where(self.swapped, off, np.uint64(0))

    @property
    def pfn_known(self) -> bool:
        return "pfn" not in self.unavailable


__all__ = [
    "BIT_EXCLUSIVE", "BIT_FILE", "BIT_GUARD", "BIT_PRESENT", "BIT_SOFT_DIRTY", "BIT_SWAPPED",
    "BIT_UFFD_WP", "KPAGEFLAG_NAMES", "KPAGEFLAG_OVERLOADS", "KPAGEFLAG_RAW_NAMES",
    "PAGEMAP_BITS", "PFN_MASK", "PUBLIC_FLAGS_MASK", "RAW_FLAGS_MASK", "PageTable",
    "flag_names", "raw_u64",
]  # fmt: skip

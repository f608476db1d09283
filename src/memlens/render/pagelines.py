"""Per-page text output, built with numpy for hundreds of thousands of pages.

One line per present or swapped page, one per run of pages not present::

    00007fff5e59b000  phys 000000022762a000  exclusive  count 1  UPTODATE,LRU,ANON
    00007fff5e59c000  swap 0000000000001234  type 0  soft-dirty
    00007fff5e59d000  guard region
    ... 30 pages not present ...

A line is a fixed-width *prefix* (the address, and the physical address or
swap offset: hex digits made by table lookups over uint64 arrays) followed by
a *tail* (state words, pagemap bits, map count, kpageflags names).  The tail
depends only on (pagemap bits, swap type, kpageflags, count); a process has
few distinct combinations, so each is formatted once in Python and the lines
index a table of them.  Lines are then laid into one output buffer:

* runs of consecutive lines sharing prefix width and tail (a large uniform
  mapping is a few long runs) are dense ``(lines, width)`` stretches of the
  buffer: the text they share is broadcast into them, then the hex columns
  are copied over it, each copy moving whole 16-byte items, no padding;
* when runs are short (fragmented flags), lines go into a NUL-padded byte
  matrix whose NULs are dropped in one pass (text never holds a NUL).

Nothing runs per page in Python.  Pages are handled in blocks of
:data:`BLOCK_ROWS` shown pages so the buffers stay a few MiB whatever the
region's size.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from memlens.analyses.pages import RegionPages
from memlens.core.pages import (
    BIT_GUARD,
    BIT_PRESENT,
    BIT_SWAPPED,
    KPAGEFLAG_NAMES,
    KPAGEFLAG_RAW_NAMES,
    PAGEMAP_BITS,
    PFN_MASK,
    PUBLIC_FLAGS_MASK,
    RAW_FLAGS_MASK,
    SWAP_OFFSET_SHIFT,
    SWAP_TYPE_MASK,
    PageTable,
)
from memlens.render.units import human_size

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
INTP = npt.NDArray[np.intp]

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
#: shown pages per block (bounds every buffer to a few MiB)
BLOCK_ROWS = 1 << 16
#: the runs layout pays a few numpy calls per run, the matrix ~1.5x the bytes
#: per line: on 131k lines the two broke even at runs of ~16-32 lines
MIN_RUN_LINES = 24

#: entry bits that make a page shown: present, swapped, or a guard marker
_SHOWN = np.uint64(1 << BIT_PRESENT | 1 << BIT_SWAPPED | 1 << BIT_GUARD)
#: entry bits 55-63 as tail-key bits 0-8: the pagemap bits a line names
_BITS_SHIFT = 55
_KEY_BITS = sum(1 << (b - _BITS_SHIFT) for b, _ in PAGEMAP_BITS) | 1 << (BIT_PRESENT - _BITS_SHIFT)
#: a swapped page's swap type rides above them
_KEY_SWAP_SHIFT = 9
#: the tail key of a guard-region marker (no other key reaches bit 14)
_KEY_GUARD = 1 << 14
_KEY_PRESENT = 1 << (BIT_PRESENT - _BITS_SHIFT)
_KEY_GUARD_BIT = 1 << (BIT_GUARD - _BITS_SHIFT)

#: prefix layout: 16 address digits, then "  phys " / "  swap " and 16 digits
ADDR_WIDTH = 16
FULL_PREFIX = ADDR_WIDTH + 7 + 16
#: what comes before a tail, NULs where the hex columns go
_ADDR_HEAD = bytes(ADDR_WIDTH)
_PHYS_HEAD = bytes(ADDR_WIDTH) + b"  phys " + bytes(16)
_SWAP_HEAD = bytes(ADDR_WIDTH) + b"  swap " + bytes(16)

_U64_MAX = (1 << 64) - 1


@functools.cache
def _hex4() -> npt.NDArray[np.uint32]:
    """uint16 value -> its four hex digits, as the uint32 whose memory is that text."""
    i = np.arange(1 << 16)
    digits = np.stack([_DIGITS[i >> shift & 15] for shift in (12, 8, 4, 0)], axis=1)
    table: npt.NDArray[np.uint32] = np.ascontiguousarray(digits).view(np.uint32).reshape(-1)
    return table


def hex_columns(values: U64) -> U8:
    """``values`` as 16 zero-padded lowercase hex digits: an ``(n, 16)`` ASCII matrix.

    Each big-endian 16-bit quarter of a value indexes a table of four digits.
    """
    quarters = values.astype(">u8").view(">u2").astype(np.intp)
    result: U8 = _hex4()[quarters].view(np.uint8).reshape(-1, 16)
    return result


def flag_text(flags: int, raw: bool) -> str:
    """Comma-separated kpageflags names; in raw mode unnamed bits show as ``BIT<n>``."""
    names = [n for bit, n in enumerate(KPAGEFLAG_NAMES) if flags >> bit & 1]
    if raw:
        names += [n for bit, n in KPAGEFLAG_RAW_NAMES.items() if flags >> bit & 1]
        names += [f"BIT{b}" for b in range(64) if flags >> b & 1 and not RAW_FLAGS_MASK >> b & 1]
    return ",".join(names)


def gap_line(pages: int) -> bytes:
    return f"... {pages} pages not present ...\n".encode()


class PageLines:
    """Formats page tables; the tails formatted so far are kept across tables.

    Args:
        raw: also name kpageflags bits 32-41, and unnamed bits as ``BIT<n>``.
        block_rows: shown pages per block.
        layout: ``"auto"``, or force ``"runs"`` / ``"matrix"`` (tests use both).
    """

    def __init__(self, raw: bool = False, *, block_rows: int = BLOCK_ROWS,
                 layout: str = "auto") -> None:  # fmt: skip
        self.raw = raw
        self.block_rows = max(1, block_rows)
        self.layout = layout
        self._tails: dict[tuple[int, int, int, int], bytes] = {}

    # -- tails -------------------------------------------------------------

    def _tail(self, key: int, flags: int, count: int, known: int) -> bytes:
        """Everything after the prefix of a line: each field led by two spaces.

        ``known``: bit 0 PFNs (and swap slots), bit 1 counts, bit 2 flags.
        Without CAP_SYS_ADMIN the kernel zeroes PFNs *and* swap slots, so then
        a page is only "present" or "swapped": never a made-up frame 0 or slot 0.
        """
        cached = self._tails.get((key, flags, count, known))
        if cached is not None:
            return cached
        if key == _KEY_GUARD:
            # a guard-region PTE marker: pagemap flags it "swapped", but nothing is in swap
            text = "  guard region\n"
        else:
            pfn_known = bool(known & 1)
            present = bool(key & _KEY_PRESENT)
            fields = []
            if not present:
                fields.append(f"type {key >> _KEY_SWAP_SHIFT}" if pfn_known else "swapped")
            elif not pfn_known:
                fields.append("present")
            words = " ".join(n for b, n in PAGEMAP_BITS if key >> (b - _BITS_SHIFT) & 1)
            if words:
                fields.append(words)
            if present and known & 2:
                fields.append(f"count {count}")
            if present and known & 4:
                fields.append(flag_text(flags, self.raw) or "-")
            text = "".join("  " + f for f in fields) + "\n"
        tail = text.encode()
        self._tails[(key, flags, count, known)] = tail
        return tail

    # -- tables ------------------------------------------------------------

    def render(self, table: PageTable) -> bytes:
        """The page lines of ``table`` (runs of pages not present folded)."""
        return b"".join(self.chunks(table))

    def chunks(self, table: PageTable) -> Iterator[bytes | memoryview]:
        """The page lines of ``table``, a block of pages at a time."""
        entries = table.entries
        n = len(entries)
        idx = np.flatnonzero(entries & _SHOWN)
        m = len(idx)
        if m == 0:
            if n:
                yield gap_line(n)
            return
        # pages not present before each shown page
        gaps = np.empty(m, dtype=np.intp)
        gaps[0] = idx[0]
        np.subtract(idx[1:], idx[:-1], out=gaps[1:])
        gaps[1:] -= 1
        for lo in range(0, m, self.block_rows):
            hi = min(lo + self.block_rows, m)
            yield self._block(table, idx[lo:hi], gaps[lo:hi]).data
        if n - 1 - int(idx[-1]):
            yield gap_line(n - 1 - int(idx[-1]))

    def _keys(self, table: PageTable, idx: INTP, e: U64,
              absent: INTP) -> tuple[U64, U64 | None, U64 | None, int]:  # fmt: skip
        """Per shown page: tail key, flags, count (None when not shown), and ``known`` bits.

        ``absent`` indexes the shown pages that are not present (swapped or
        guard markers): few, so they are fixed up by index, not by masks.
        """
        pfn_known = table.pfn_known
        key = e >> np.uint64(_BITS_SHIFT)
        key &= np.uint64(_KEY_BITS)
        if len(absent):
            ka = key[absent]
            guard = ka & np.uint64(_KEY_GUARD_BIT) != 0
            if pfn_known:
                ka |= (e[absent] & np.uint64(SWAP_TYPE_MASK)) << np.uint64(_KEY_SWAP_SHIFT)
            ka[guard] = _KEY_GUARD
            key[absent] = ka
        known = int(pfn_known)
        flags = counts = None
        if pfn_known and table.counts is not None:
            known |= 2
            counts = table.counts[idx]
            counts[absent] = 0
        if pfn_known and table.flags is not None:
            known |= 4
            flags = table.flags[idx]
            if not self.raw:
                flags &= np.uint64(PUBLIC_FLAGS_MASK)
            flags[absent] = 0
        return key, flags, counts, known

    def _tail_ids(self, table: PageTable, idx: INTP, e: U64,
                  absent: INTP) -> tuple[INTP, list[bytes]]:  # fmt: skip
        """Line-text index of each shown page, and the texts: each a tail led by
        NULs where the hex columns go (and the "phys"/"swap" label between).

        Distinct (key, flags, count) are found over *runs* of equal
        neighbours first, so the sort sees one value per run, not per page.
        """
        key, flags, counts, known = self._keys(table, idx, e, absent)
        packed = _pack(key, flags, counts, self.raw)
        cols = [c for c in (key, flags, counts) if c is not None] if packed is None else [packed]
        change = np.empty(len(key), dtype=np.bool_)
        change[0] = True
        np.not_equal(cols[0][1:], cols[0][:-1], out=change[1:])
        for c in cols[1:]:
            change[1:] |= c[1:] != c[:-1]
        starts = np.flatnonzero(change)
        lengths = np.diff(np.append(starts, len(key)))
        uniq, inv = _unique_rows([c[starts] for c in cols])
        if packed is not None:
            combos = [(v & _PACK_KEY_MASK, v >> _PACK_FLAGS_SHIFT & PUBLIC_FLAGS_MASK,
                       v >> _PACK_COUNT_SHIFT) for v in uniq[0]]  # fmt: skip
        else:
            it = iter(uniq[1:])
            fl = next(it) if flags is not None else [0] * len(uniq[0])
            co = next(it) if counts is not None else [0] * len(uniq[0])
            combos = list(zip(uniq[0], fl, co, strict=True))
        tails = [self._tail(k, f, c, known) for k, f, c in combos]
        # the fixed text before a tail follows from its key: guard markers and
        # pages whose frame is hidden show the address only
        if not known & 1:
            heads = [_ADDR_HEAD] * len(combos)
        else:
            heads = [_ADDR_HEAD if k == _KEY_GUARD else _PHYS_HEAD if k & _KEY_PRESENT
                     else _SWAP_HEAD for k, _, _ in combos]  # fmt: skip
        ids: INTP = np.repeat(inv, lengths)
        return ids, [h + t for h, t in zip(heads, tails, strict=True)]

    def _block(self, table: PageTable, idx: INTP, gaps: INTP) -> U8:
        k = len(idx)
        e = table.entries[idx]
        absent = np.flatnonzero(e < np.uint64(1 << BIT_PRESENT))
        ids, texts = self._tail_ids(table, idx, e, absent)
        cols = _Columns(table, idx, e, absent)

        # rows: a gap line (when pages are missing) before a shown page
        has_gap = gaps > 0
        gap_rows: INTP | None = None
        if has_gap.any():
            row_of = np.cumsum(has_gap, dtype=np.intp)
            row_of += np.arange(k, dtype=np.intp)
            gap_rows = row_of[has_gap] - 1
            ulen, ginv = np.unique(gaps[has_gap], return_inverse=True)
            n_texts = len(texts)
            texts = texts + [gap_line(g) for g in ulen.tolist()]
            tail_id = np.empty(k + len(gap_rows), dtype=np.intp)
            tail_id[row_of] = ids
            tail_id[gap_rows] = ginv.reshape(-1) + n_texts
        else:
            row_of = np.arange(k, dtype=np.intp)
            tail_id = ids
        # a line's text fixes its prefix width, so runs are runs of equal text
        change = np.flatnonzero(tail_id[1:] != tail_id[:-1]) + 1
        layout = self.layout
        if layout == "auto":
            layout = "runs" if (len(change) + 1) * MIN_RUN_LINES <= len(tail_id) else "matrix"
        if layout == "runs":
            return _lay_runs(cols, gap_rows, tail_id, texts, change)
        return _lay_matrix(cols, row_of, tail_id, texts)


#: a tail key packed with public flags and a count below 2**22 in one uint64
_PACK_FLAGS_SHIFT = 15
_PACK_COUNT_SHIFT = _PACK_FLAGS_SHIFT + len(KPAGEFLAG_NAMES)
_PACK_KEY_MASK = (1 << _PACK_FLAGS_SHIFT) - 1


def _pack(key: U64, flags: U64 | None, counts: U64 | None, raw: bool) -> U64 | None:
    """(key, flags, count) as one uint64 when they fit (the usual case), else None."""
    if flags is not None and raw:
        return None
    if counts is not None and len(counts) and int(counts.max()) >> (64 - _PACK_COUNT_SHIFT):
        return None
    packed = key.copy()
    if flags is not None:
        packed |= flags << np.uint64(_PACK_FLAGS_SHIFT)
    if counts is not None:
        packed |= counts << np.uint64(_PACK_COUNT_SHIFT)
    return packed


def _unique_rows(cols: list[U64]) -> tuple[list[list[int]], INTP]:
    """Distinct rows of the columns ``cols`` (as Python ints, column-wise) and each row's index.

    Sort-based: numpy >= 2.3's hash-based ``np.unique`` was several times slower here.
    """
    order = np.lexsort(cols[::-1]) if len(cols) > 1 else np.argsort(cols[0])
    ordered = [c[order] for c in cols]
    first = np.empty(len(order), dtype=np.bool_)
    first[:1] = True
    np.not_equal(ordered[0][1:], ordered[0][:-1], out=first[1:])
    for c in ordered[1:]:
        first[1:] |= c[1:] != c[:-1]
    inv = np.empty(len(order), dtype=np.intp)
    inv[order] = np.cumsum(first, dtype=np.intp) - 1
    return [c[first].tolist() for c in ordered], inv


class _Columns:
    """The hex columns of a block's shown pages: address, and frame or swap slot.

    ``second`` is None when PFNs are hidden (the kernel zeroes swap slots too).
    """

    def __init__(self, table: PageTable, idx: INTP, e: U64, absent: INTP) -> None:
        addrs = idx.astype(np.uint64)
        addrs *= np.uint64(table.page_size)
        addrs += np.uint64(table.start)
        self.address = hex_columns(addrs)
        self.second: U8 | None = None
        if table.pfn_known:
            second = e & np.uint64(PFN_MASK)
            fields = second[absent]  # swapped (or guard markers, whose column is not shown)
            second *= np.uint64(table.page_size)
            second[absent] = fields >> np.uint64(SWAP_OFFSET_SHIFT)
            self.second = hex_columns(second)


def _lay_runs(cols: _Columns, gap_rows: INTP | None, tail_id: INTP, texts: list[bytes],
              change: INTP) -> U8:  # fmt: skip
    """Lines laid run by run: a run of lines with the same text is one dense block.

    The text (NULs where hex digits go) is broadcast into the block, then the
    address and second columns are copied over it.
    """
    lo = np.concatenate(([0], change))
    rows = np.diff(np.append(lo, len(tail_id)))
    tid = tail_id[lo]
    text_len = np.array([len(t) for t in texts], dtype=np.intp)
    sizes = text_len[tid] * rows
    first = np.cumsum(sizes) - sizes
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    # shown page at each run's first row: rows before it, less the gap rows among them
    page = lo if gap_rows is None else lo - np.searchsorted(gap_rows, lo)
    address = cols.address.view(_V16).reshape(-1)
    second = cols.second.view(_V16).reshape(-1) if cols.second is not None else address
    templates = [np.frombuffer(t, dtype=f"V{len(t)}") for t in texts]
    for t, n, at, pg in zip(tid.tolist(), rows.tolist(), first.tolist(), page.tolist(),
                            strict=True):  # fmt: skip
        text = texts[t]
        width = len(text)
        _strided(out, at, n, width, templates[t].dtype)[:] = templates[t][0]
        if text[0]:  # a gap line: no prefix
            continue
        _strided(out, at, n, width, _V16)[:] = address[pg : pg + n]
        if width > FULL_PREFIX and not text[FULL_PREFIX - 1]:
            _strided(out, at + ADDR_WIDTH + 7, n, width, _V16)[:] = second[pg : pg + n]
    return out


_V16 = np.dtype("V16")


def _strided(buf: U8, offset: int, rows: int, stride: int,
             dtype: np.dtype[np.void]) -> npt.NDArray[np.void]:  # fmt: skip
    """``rows`` items of ``dtype`` in ``buf``, ``stride`` bytes apart from ``offset``.

    numpy copies each item as a whole: much faster than a strided copy of
    short uint8 rows, and one call instead of a slice, reshape and view.
    """
    return np.ndarray((rows,), dtype, buf, offset, (stride,))


def _items(matrix: U8, lo: int, hi: int) -> npt.NDArray[np.void]:
    """Columns ``lo:hi`` of each row of ``matrix`` as one ``V(hi-lo)`` item per row."""
    items: npt.NDArray[np.void] = matrix[:, lo:hi].view(f"V{hi - lo}")[:, 0]
    return items


def _lay_matrix(cols: _Columns, row_of: INTP, tail_id: INTP, texts: list[bytes]) -> U8:
    """Lines in a NUL-padded matrix, NULs dropped: cheap when runs are short.

    Each row starts as its text (NULs where hex digits go); the hex columns
    are then copied in as 16-byte items.
    """
    width = max(len(t) for t in texts)
    textmat = np.zeros((len(texts), width), dtype=np.uint8)
    for i, t in enumerate(texts):
        textmat[i, : len(t)] = np.frombuffer(t, dtype=np.uint8)
    mat = _items(textmat, 0, width)[tail_id].view(np.uint8).reshape(len(tail_id), width)
    _items(mat, 0, ADDR_WIDTH)[row_of] = cols.address.view(_V16).reshape(-1)
    if cols.second is not None:
        # texts with a frame or swap slot: a NUL where the second column ends
        full = np.array([len(t) > FULL_PREFIX and not t[FULL_PREFIX - 1] for t in texts])
        if full.any():
            pages = np.flatnonzero(full[tail_id[row_of]])
            second = cols.second.view(_V16).reshape(-1)
            _items(mat, ADDR_WIDTH + 7, FULL_PREFIX)[row_of[pages]] = second[pages]
    text: U8 = mat[mat != 0]
    return text


def render_table(table: PageTable, raw: bool = False) -> bytes:
    """The page lines of ``table`` (not-present runs folded)."""
    return PageLines(raw).render(table)


def region_header(rp: RegionPages, word_size: int) -> bytes:
    r = rp.region
    digits = word_size * 2
    lines = [
        f"\n{r.start:0{digits}x}-{r.end:0{digits}x} {r.perms} {r.offset:08x} "
        f"{human_size(r.size)} {r.label()}"
    ]
    t = rp.table
    if t is None:
        lines.append("  (no page data in this source)")
    else:
        if "pagemap" in t.unavailable:
            lines.append(f"  (page table unavailable: {t.unavailable['pagemap']})")
        elif "pfn" in t.unavailable:
            why = t.unavailable["pfn"]
            lines.append(f"  (physical address, count and flags unavailable: {why})")
        else:
            for key in ("count", "flags"):
                if key in t.unavailable and t.unavailable[key] != "not read":
                    lines.append(f"  ({key} unavailable: {t.unavailable[key]})")
        if t.partial:
            total = (r.end - r.start + t.page_size - 1) // t.page_size
            lines.append(f"  (partial: {t.partial}; {len(t)} of {total} pages read)")
    return ("\n".join(lines) + "\n\n").encode()


def write_regions(out: BinaryIO, scanned: list[RegionPages], word_size: int,
                  raw: bool = False) -> None:  # fmt: skip
    """Every region's header and lines; one write per block of pages."""
    lines = PageLines(raw)
    pending = bytearray()
    for rp in scanned:
        pending += region_header(rp, word_size)
        if rp.table is None or not len(rp.table):
            continue
        for chunk in lines.chunks(rp.table):
            if len(chunk) < 1 << 16:
                pending += chunk  # small regions: gathered, not a write each
                continue
            out.write(pending)
            pending.clear()
            out.write(chunk)
    out.write(pending)


def write_region(out: BinaryIO, rp: RegionPages, word_size: int, raw: bool = False) -> None:
    write_regions(out, [rp], word_size, raw)


def write_single(out: BinaryIO, rp: RegionPages, word_size: int, raw: bool = False) -> None:
    """The one page of a ``--address`` query (its table holds exactly that page)."""
    out.write(region_header(rp, word_size))
    t = rp.table
    if t is None or not len(t):
        return
    if not int(t.entries[0]) & int(_SHOWN):
        out.write(f"{t.start:016x}  not present\n".encode())
        return
    out.write(render_table(t, raw))

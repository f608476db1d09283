"""Find the GC heap areas in memory by their structure (no symbols needed).

An area record is ``gc_alloc_table_start, gc_alloc_table_byte_len,
[gc_finaliser_table_start], gc_pool_start, gc_pool_end`` (see
:mod:`memlens.mpy.layout`).  Its words must agree with each other the way
``gc_setup_area`` computes them: the pool holds ``4 * len`` blocks and ends on
a block boundary, the finaliser table follows the ATB and its gap byte, the
pool starts right after the tables.  Every aligned word of the dump is tested
at once with numpy; the few candidates left are then checked against the
allocation table they point at (a tail never follows a free block).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError
from memlens.mpy.atb import decode_states, states_consistent
from memlens.mpy.gather import PieceGather
from memlens.mpy.layout import KNOWN_LAYOUTS, WORDS_PER_BLOCK, AreaLayout, HeapArea

# gc_setup_area leaves less than one (ATB byte + FTB half byte + 4 blocks) unit
# between the tables and the pool; allow that plus alignment.
_MAX_BLOCKS = 1 << 28


@dataclass(frozen=True, slots=True)
class Candidate:
    word_address: int  # address of the gc_alloc_table_start member
    layout: AreaLayout
    area: HeapArea


@dataclass(slots=True)
class Located:
    """The areas found, in list order, with how they were found."""

    areas: list[HeapArea]
    layout: AreaLayout
    method: str
    record: int | None
    warnings: list[str] = field(default_factory=list)


def _scan(
    base: int,
    w: npt.NDArray[np.uint64],
    aligned: npt.NDArray[np.bool_],
    finaliser: bool,
    ws: int,
) -> list[tuple[int, int, tuple[int, ...]]]:
    """``(address, gap, words)`` of every record consistent with one table layout."""
    bsz = np.uint64(WORDS_PER_BLOCK * ws)
    k = 5 if finaliser else 4
    n_rows = len(w) - k + 1
    if n_rows <= 0:
        return []
    f_off = 1 if finaliser else 0
    # Cheap first cut (``aligned``): pool start and end are non-zero multiples of
    # the block size.
    pool_ok = aligned[2 + f_off : 2 + f_off + n_rows] & aligned[3 + f_off : 3 + f_off + n_rows]
    rows = np.flatnonzero(pool_ok)
    if len(rows) == 0:
        return []
    a = w[rows]
    n = w[rows + 1]
    p = w[rows + 2 + f_off]
    e = w[rows + 3 + f_off]
    ok = (n > 0) & (n < _MAX_BLOCKS) & (e > p) & (a > 0)
    ok &= (e - p) == n * (np.uint64(4) * bsz)
    out: list[tuple[int, int, tuple[int, ...]]] = []
    for gap in (1, 0):
        g = np.uint64(gap)
        if finaliser:
            f = w[rows + 2]
            good = ok & (f == a + n + g)
            tables_end = f + (n * np.uint64(4) + np.uint64(7)) // np.uint64(8)
        else:
            good = ok.copy()
            tables_end = a + n + g
        good &= p >= tables_end
        good &= (p - tables_end) <= np.uint64(4) * bsz + np.uint64(8)
        for i in rows[np.flatnonzero(good)][:4096].tolist():
            out.append((base + i * ws, gap, tuple(int(x) for x in w[i : i + k])))
    return out


def _validate(mem: PieceGather, words: tuple[int, ...], layout: AreaLayout) -> HeapArea | None:
    if layout.finaliser:
        a, n, f, p, e = words
    else:
        a, n, p, e = words
        f = None
    atb = mem.space.view(a, n + layout.gap)
    if atb is None:
        return None
    if layout.gap and atb[n] != 0:
        return None
    if f is not None and mem.space.view(f, (n * 4 + 7) // 8) is None:
        return None
    if not states_consistent(decode_states(atb[:n])):
        return None
    return HeapArea(None, a, n, f, p, e)


def candidates(mem: PieceGather) -> list[Candidate]:
    """Every area record in memory that is consistent with some known layout."""
    ws = mem.word_size
    found: list[Candidate] = []
    bsz = np.uint64(WORDS_PER_BLOCK * ws)
    for base, w in mem.aligned_words():
        aligned = ((w & (bsz - np.uint64(1))) == 0) & (w != 0)
        for finaliser in (True, False):
            for addr, gap, words in _scan(base, w, aligned, finaliser, ws):
                for layout in KNOWN_LAYOUTS:
                    if layout.finaliser != finaliser or layout.gap != gap:
                        continue
                    area = _validate(mem, words, layout)
                    if area is not None:
                        found.append(Candidate(addr, layout, area))
    return found


def _with_links(mem: PieceGather, cands: list[Candidate]) -> tuple[list[HeapArea], int] | None:
    """The longest chain of split-heap records linked by ``next``, or ``None``."""
    ws = mem.word_size
    by_record = {c.word_address - ws: c for c in cands}
    nexts: dict[int, int] = {}
    for rec in by_record:
        nxt = mem.space.word(rec)
        if nxt is not None and (nxt == 0 or nxt in by_record):
            nexts[rec] = nxt
    pointed = {v for v in nexts.values() if v}
    best: list[int] = []
    for rec in nexts:
        if rec in pointed:
            continue
        chain = [rec]
        while nexts.get(chain[-1], 0) and len(chain) <= len(by_record):
            nxt = nexts[chain[-1]]
            if nxt in chain or nxt not in nexts:
                break
            chain.append(nxt)
        key = (len(chain), sum(by_record[r].area.n_blocks for r in chain))
        if key > (len(best), sum(by_record[r].area.n_blocks for r in best)):
            best = chain
    if len(best) < 2:
        return None
    areas = []
    for rec in best:
        a = by_record[rec].area
        areas.append(HeapArea(rec, a.atb_start, a.atb_len, a.ftb_start, a.pool_start,
                              a.pool_end, nexts.get(rec) or None))  # fmt: skip
    return areas, best[0]


def locate_structural(
    mem: PieceGather, source: str = "memory", cands: list[Candidate] | None = None
) -> Located:
    """Find the heap areas without symbols (``cands``: :func:`candidates` already found).

    Raises:
        FormatError: no consistent area record anywhere in the saved memory.
    """
    if cands is None:
        cands = candidates(mem)
    if not cands:
        raise FormatError(source, None, "no MicroPython GC heap found (no area record whose "
                          "pointers bound a consistent allocation table and pool)")  # fmt: skip
    warnings: list[str] = []
    for layout in KNOWN_LAYOUTS:
        group = [c for c in cands if c.layout == layout]
        if layout.next_word is None or not group:
            continue
        linked = _with_links(mem, group)
        if linked is not None:
            areas, head = linked
            return Located(areas, layout, "structure (split heap, linked records)", head)
    # Single area: prefer the layout listed first (most specific), then the biggest.
    order = {layout: i for i, layout in enumerate(KNOWN_LAYOUTS)}
    cands.sort(key=lambda c: (order[c.layout], -c.area.n_blocks, c.word_address))
    best = cands[0]
    distinct = {(c.area.atb_start, c.area.pool_start) for c in cands}
    if len(distinct) > 1:
        warnings.append(f"{len(distinct)} distinct area records found; using the one at "
                        f"{best.word_address:#x}")  # fmt: skip
    a = best.area
    layout, record = best.layout, best.word_address
    if layout.next_word is not None:
        # One area: a split-heap build has next == NULL just before; otherwise
        # the word before belongs to something else and the build is not split.
        before = mem.space.word(best.word_address - mem.word_size)
        if before == 0:
            record = best.word_address - mem.word_size
        else:
            layout = next(x for x in KNOWN_LAYOUTS if x.next_word is None
                          and x.finaliser == layout.finaliser and x.gap == layout.gap)  # fmt: skip
    area = HeapArea(record, a.atb_start, a.atb_len, a.ftb_start, a.pool_start, a.pool_end, None)
    return Located([area], layout, "structure (single area record)", record,
                   warnings)  # fmt: skip

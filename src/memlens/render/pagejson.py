"""Per-page JSON: present and swapped pages of each region, with every known field.

Written as it is produced, one region at a time, compact (no indentation): a
512 MiB process is ~130k page objects, which the pure-Python indenting encoder
took ~15 s and ~175 MB to build and write.  The page objects are made in C
(:meth:`memlens._pagewalk.LineFormat.json_into`, a block of pages at a time into
one reused buffer, with the names of the text path); :func:`iter_page_text` is
the same output made in Python, kept as the reference the C is tested against.
``--ndjson`` writes one object per line instead: a ``{"type": "pages", ...}``
header, then per region a ``{"type": "region", ...}`` line followed by one
``{"type": "page", ...}`` line per page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from memlens.analyses.pages import RegionPages
from memlens.core.pages import PAGEMAP_BITS, PageTable
from memlens.render.jsonout import SCHEMA_VERSION
from memlens.render.pagelines import flag_text, line_format

if TYPE_CHECKING:
    # the C path (json_into) needs no numpy; only the Python reference does
    import numpy as np
    import numpy.typing as npt

_compact = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
#: pages formatted per slice
SLICE = 1 << 15


def region_head(rp: RegionPages) -> dict[str, Any]:
    r = rp.region
    doc: dict[str, Any] = {
        "start": r.start, "end": r.end, "perms": str(r.perms), "offset": r.offset,
        "name": r.name, "kind": r.kind.value, "path": r.path, "deleted": r.deleted,
    }  # fmt: skip
    t = rp.table
    if t is None:
        doc.update(unavailable={"pagemap": "the source has no page data"}, partial=None)
        return doc
    doc["unavailable"] = dict(sorted(t.unavailable.items()))
    doc["partial"] = t.partial
    doc["pages_read"] = len(t)
    return doc


def iter_page_text(rp: RegionPages, raw: bool = False, extra: str = "") -> Iterator[str]:
    """The page objects of one region as compact JSON texts (sorted keys), address order.

    Built by formatting, not by encoding a dict per page: the cached pieces (pagemap
    bit names, flag names) are encoded once per distinct value.  ``extra`` is spliced
    in before the closing brace (``,"type":"page"`` for NDJSON).
    """
    import numpy as np

    t = rp.table
    if t is None:
        return
    present = t.present
    guard = t.guard & ~present
    swapped = t.swapped & ~present & ~guard
    everything = np.flatnonzero(present | swapped | guard)
    bits_of: dict[int, str] = {}
    names_of: dict[int | None, str] = {None: "null"}
    # a slice of pages at a time: Python lists of every page of a 2 GiB process would
    # cost more memory than the rest of the command
    for at in range(0, len(everything), SLICE):
        yield from _slice(t, everything[at : at + SLICE], present, guard, raw, extra,
                          bits_of, names_of)  # fmt: skip


def _slice(t: PageTable, idx: npt.NDArray[np.intp], present: npt.NDArray[np.bool_],
           guard: npt.NDArray[np.bool_], raw: bool, extra: str, bits_of: dict[int, str],
           names_of: dict[int | None, str]) -> Iterator[str]:  # fmt: skip
    import numpy as np

    addrs = (np.uint64(t.start) + idx.astype(np.uint64) * np.uint64(t.page_size)).tolist()
    entries = t.entries[idx].tolist()
    pfns = t.pfn[idx].tolist() if t.pfn_known else None
    counts = t.counts[idx].tolist() if t.counts is not None else None
    flags = t.flags[idx].tolist() if t.flags is not None else None
    shown = present[idx].tolist()
    is_guard = guard[idx].tolist()
    stype, soff = t.swap_type[idx].tolist(), t.swap_offset[idx].tolist()
    for i, addr in enumerate(addrs):
        e = entries[i]
        bits = bits_of.get(e >> 55)
        if bits is None:
            bits = bits_of[e >> 55] = _compact([n for b, n in PAGEMAP_BITS if e >> b & 1])
        if shown[i]:
            f = None if flags is None else flags[i]
            names = names_of.get(f)
            if names is None:
                names = names_of[f] = _compact([n for n in flag_text(f or 0, raw).split(",")
                                                if n])  # fmt: skip
            yield (f'{{"address":{addr},"count":{"null" if counts is None else counts[i]},'
                   f'"entry":{e},"flag_names":{names},'
                   f'"kpageflags":{"null" if f is None else f},"pagemap_bits":{bits},'
                   f'"pfn":{"null" if pfns is None else pfns[i]},"state":"present"{extra}}}')
        elif is_guard[i]:
            yield (f'{{"address":{addr},"entry":{e},"pagemap_bits":{bits},'
                   f'"state":"guard"{extra}}}')  # fmt: skip
        else:
            # swap type and offset are hidden along with PFNs without CAP_SYS_ADMIN
            st, so = (stype[i], soff[i]) if pfns is not None else ("null", "null")
            yield (f'{{"address":{addr},"entry":{e},"pagemap_bits":{bits},'
                   f'"state":"swapped","swap_offset":{so},"swap_type":{st}{extra}}}')


def iter_pages(rp: RegionPages, raw: bool = False) -> Iterator[dict[str, Any]]:
    """The page objects of one region, decoded (for callers that want objects)."""
    for text in iter_page_text(rp, raw):
        page: dict[str, Any] = json.loads(text)
        yield page


def region_json(rp: RegionPages, raw: bool = False) -> dict[str, Any]:
    """One region with its pages as one object (``pages`` None when the source has none)."""
    doc = region_head(rp)
    doc["pages"] = None if rp.table is None else list(iter_pages(rp, raw))
    return doc


#: page objects per block made in C (a block's text is ~300 bytes a page)
BLOCK_PAGES = 1 << 13


def _block_buffer() -> bytearray:
    """Room for one block of page objects; made once a document, reused by every region
    (zeroing 4 MiB a region cost more than formatting a small region's pages)."""
    return bytearray(BLOCK_PAGES * 512 + (1 << 16))


def _write_region_pages(out: BinaryIO, rp: RegionPages, raw: bool, extra: bytes,
                        lines: bool, buf: bytearray) -> None:  # fmt: skip
    """The page objects of one region, a block at a time through ``buf``: comma-separated,
    or (``lines``) one a line, each line ended."""
    t = rp.table
    if t is None or not len(t):
        return
    fmt = line_format(raw)
    entries, counts, flags = t.entries_raw, t.counts_raw, t.flags_raw
    pos, first = 0, True
    while pos < len(t):
        size, pos = fmt.json_into(buf, entries, counts, flags, t.start, t.page_size,
                                  t.pfn_known, pos, BLOCK_PAGES, first, extra)  # fmt: skip
        if not size:
            continue
        if lines:
            # objects hold no "},{" inside (no nested objects): split lines there
            out.write(bytes(buf[:size]).replace(b"},{", b"}\n{"))
            out.write(b"\n")
        else:
            view = memoryview(buf)[:size]
            out.write(view)
            view.release()
            first = False


def write_pages_json(out: BinaryIO, head: dict[str, Any], scanned: Sequence[RegionPages],
                     raw: bool = False) -> None:  # fmt: skip
    """The whole ``pages`` document, compact, streamed region by region."""
    doc = {"schema_version": SCHEMA_VERSION, "kind": "pages", **head}
    text = _compact({**doc, "regions": []})
    cut = text.rindex('"regions":[') + len('"regions":[')
    out.write(text[:cut].encode())
    buf = _block_buffer()
    for i, rp in enumerate(scanned):
        region = region_head(rp)
        region["pages"] = None
        text = _compact(region)
        at = text.index('"pages":null')
        out.write(("," if i else "").encode() + text[:at].encode())
        if rp.table is None:
            out.write(b'"pages":null')
        else:
            out.write(b'"pages":[')
            _write_region_pages(out, rp, raw, b"", lines=False, buf=buf)
            out.write(b"]")
        out.write(text[at + len('"pages":null') :].encode())
    out.write(text_tail(doc).encode())


def text_tail(doc: dict[str, Any]) -> str:
    """What follows the regions list in the compact document (keys sorting after it)."""
    text = _compact({**doc, "regions": []})
    return text[text.rindex('"regions":[') + len('"regions":[') :]


def write_pages_ndjson(out: BinaryIO, head: dict[str, Any], scanned: Sequence[RegionPages],
                       raw: bool = False) -> None:  # fmt: skip
    """One JSON object per line: the header, then each region followed by its pages."""
    out.write((_compact({"schema_version": SCHEMA_VERSION, "type": "pages", **head})
               + "\n").encode())  # fmt: skip
    buf = _block_buffer()
    for rp in scanned:
        out.write((_compact({"type": "region", **region_head(rp)}) + "\n").encode())
        _write_region_pages(out, rp, raw, b',"type":"page"', lines=True, buf=buf)

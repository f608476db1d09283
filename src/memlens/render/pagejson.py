"""Per-page JSON: present and swapped pages of each region, with every known field."""

from __future__ import annotations

from typing import Any

import numpy as np

from memlens.analyses.pages import RegionPages
from memlens.core.pages import PAGEMAP_BITS
from memlens.render.pagelines import flag_text


def region_json(rp: RegionPages, raw: bool = False) -> dict[str, Any]:
    r = rp.region
    doc: dict[str, Any] = {
        "start": r.start, "end": r.end, "perms": str(r.perms), "offset": r.offset,
        "name": r.name, "kind": r.kind.value, "path": r.path, "deleted": r.deleted,
    }  # fmt: skip
    t = rp.table
    if t is None:
        doc.update(pages=None, unavailable={"pagemap": "the source has no page data"},
                   partial=None)  # fmt: skip
        return doc
    doc["unavailable"] = dict(sorted(t.unavailable.items()))
    doc["partial"] = t.partial
    present = t.present
    guard = t.guard & ~present
    swapped = t.swapped & ~present & ~guard
    idx = np.flatnonzero(present | swapped | guard)
    addrs = (np.uint64(t.start) + idx.astype(np.uint64) * np.uint64(t.page_size)).tolist()
    entries = t.entries[idx].tolist()
    pfns = t.pfn[idx].tolist() if t.pfn_known else None
    counts = t.counts[idx].tolist() if t.counts is not None else None
    flags = t.flags[idx].tolist() if t.flags is not None else None
    is_swapped = swapped[idx].tolist()
    is_guard = guard[idx].tolist()
    stype, soff = t.swap_type[idx].tolist(), t.swap_offset[idx].tolist()
    pages = []
    for i, addr in enumerate(addrs):
        e = entries[i]
        page: dict[str, Any] = {
            "address": addr,
            "state": "guard" if is_guard[i] else "swapped" if is_swapped[i] else "present",
            "pagemap_bits": [name for bit, name in PAGEMAP_BITS if e >> bit & 1],
            "entry": e,
        }
        if is_swapped[i]:
            # hidden along with PFNs without CAP_SYS_ADMIN
            page.update(swap_type=stype[i] if pfns is not None else None,
                        swap_offset=soff[i] if pfns is not None else None)  # fmt: skip
        elif not is_guard[i]:
            page["pfn"] = None if pfns is None else pfns[i]
            page["count"] = None if counts is None else counts[i]
            page["kpageflags"] = None if flags is None else flags[i]
            page["flag_names"] = None if flags is None else [
                n for n in flag_text(flags[i], raw).split(",") if n
            ]  # fmt: skip
        pages.append(page)
    doc["pages"] = pages
    doc["pages_read"] = len(t)
    return doc

"""JSON payloads of ``memlens mpy``: one heap, several snapshots, mem_info text.

Field names are the schema (see ``docs/mpy.md``); :func:`memlens.render.jsonout.dump`
adds ``schema_version`` and ``kind``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from memlens.mpy.atb import GcInfo
from memlens.mpy.fragmentation import Fragmentation
from memlens.mpy.graph import OwnershipGraph
from memlens.mpy.heap import MpyHeap
from memlens.mpy.meminfo_text import MemInfoText
from memlens.mpy.objects import HeapObject, type_stats
from memlens.mpy.typediff import TypeDelta


def info(gc: GcInfo) -> dict[str, int]:
    return {k: int(v) for k, v in asdict(gc).items()}


def fragmentation(fr: Fragmentation) -> dict[str, Any]:
    return {"free_bytes": fr.free_bytes, "largest_free_bytes": fr.largest_free_bytes,
            "largest_over_free": round(fr.largest_over_free, 6), "free_runs": fr.free_runs,
            "histogram": [{"blocks": b, "runs": c, "total_blocks": t}
                          for b, c, t in fr.histogram]}  # fmt: skip


def heap(
    h: MpyHeap,
    source: str,
    objs: list[HeapObject],
    graph: OwnershipGraph | None,
    frag: Fragmentation,
    table: str,
) -> dict[str, Any]:
    """Everything about one heap: areas, numbers, objects, the table text, the graph."""
    payload: dict[str, Any] = {
        "source": source, "method": h.method, "layout": h.layout.name,
        "word_size": h.word_size, "block_size": h.block_size,
        "areas": [{"record": a.record, "atb_start": a.atb_start, "atb_len": a.atb_len,
                   "ftb_start": a.ftb_start, "pool_start": a.pool_start,
                   "pool_end": a.pool_end, "blocks": a.n_blocks} for a in h.areas],
        "gc": info(h.info), "fragmentation": fragmentation(frag),
        "types": [asdict(t) for t in type_stats(objs)],
        "objects": [asdict(o) for o in objs],
        "table": table, "warnings": h.warnings,
    }  # fmt: skip
    if graph is not None:
        addr = h.heads.address
        payload["graph"] = {
            "edges": [[int(addr[s]), int(addr[d]), int(w)]
                      for s, d, w in zip(graph.src.tolist(), graph.dst.tolist(),
                                         graph.src_word.tolist(), strict=True)],
            "roots": [[int(r), int(addr[t])] for r, t in
                      zip(graph.root_address.tolist(), graph.root_target.tolist(), strict=True)],
            "unreachable": [int(addr[i]) for i in graph.unreachable.tolist()],
        }  # fmt: skip
        if h.symbols is not None:
            payload["graph"]["root_symbols"] = h.symbols.names(graph.root_address.tolist())
        payload["graph"]["root_names"] = h.place_names(graph.root_address.tolist())
    return payload


def snapshot_row(
    k: int, h: MpyHeap, objs: list[HeapObject], delta: list[TypeDelta] | None
) -> dict[str, Any]:
    """One snapshot of several: its numbers, types, and what changed since the previous."""
    row: dict[str, Any] = {"snapshot": k, "gc": info(h.info),
                           "types": [asdict(t) for t in type_stats(objs)]}  # fmt: skip
    if delta is not None:
        row["diff"] = [asdict(d) for d in delta]
    return row


def meminfo(m: MemInfoText, source: str, snapshot: int) -> dict[str, Any]:
    """One ``mem_info`` print: the header as printed, the numbers the table gives."""
    derived = m.derived() if m.areas and m.block_size else None
    return {
        "source": source, "snapshot": snapshot,
        "header": info(m.header) if m.header else None,
        "derived": info(derived) if derived else None,
        "max_new_split": m.max_new_split, "stack_used": m.stack_used,
        "stack_max": m.stack_max, "block_size": m.block_size,
        "areas": [{"pool_start": a.pool_start, "blocks": len(a.chars)} for a in m.areas],
        "letters": m.letter_counts(), "mismatch": m.mismatches(),
        "allocations_by_letter": {k: {"count": c, "bytes": b}
                                  for k, (c, b) in m.allocations_by_letter().items()},
    }  # fmt: skip

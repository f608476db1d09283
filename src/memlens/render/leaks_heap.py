"""The glibc heap's usage as text (``memlens leaks --heap``)."""

from __future__ import annotations

from typing import Any, TextIO

from memlens.glibc.usage import HeapUsage
from memlens.render.units import human_size


def write_usage(usage: HeapUsage, out: TextIO) -> None:
    out.write("\nIN USE BY SIZE CLASS (usable bytes)\n")
    for label, count, size in usage.by_size:
        out.write(f"  {label:>15}: {count:>10,} chunks {size:>14,} bytes\n")
    n, size = usage.mmapped
    out.write(f"  {'mmapped':>15}: {n:>10,} chunks {size:>14,} bytes\n")
    out.write("\nFREE BY LIST (chunk bytes; tcache is in use for mallinfo2)\n")
    for name, count, size in usage.by_list:
        out.write(f"  {name:>15}: {count:>10,} chunks {size:>14,} bytes\n")
    out.write("\nARENAS\n")
    for a in usage.arenas:
        kind = "main" if a.main else "thread"
        out.write(f"  {a.address:#x} {kind:<6} system {human_size(a.system_mem):>9}"
                  f"  in use {human_size(a.in_use):>9}  free {human_size(a.free):>9}"
                  f"  largest free {human_size(a.largest_free):>9}"
                  f"  fragmentation {a.fragmentation:.0%}  top {human_size(a.top):>9}"
                  f"  malloc_trim: up to {human_size(a.trimmable)}\n")  # fmt: skip
    out.write(f"  malloc_trim(0) could give back up to {human_size(usage.trimmable)}\n")
    if usage.tunables:
        out.write("  mp_: " + "  ".join(f"{k} {human_size(v)}" for k, v in usage.tunables.items())
                  + "\n")  # fmt: skip


def usage_payload(usage: HeapUsage) -> dict[str, Any]:
    return {
        "by_size": [{"class": k, "chunks": n, "bytes": b} for k, n, b in usage.by_size],
        "mmapped": {"chunks": usage.mmapped[0], "bytes": usage.mmapped[1]},
        "free_by_list": [{"list": k, "chunks": n, "bytes": b} for k, n, b in usage.by_list],
        "arenas": [{"address": a.address, "main": a.main, "system_mem": a.system_mem,
                    "in_use": a.in_use, "free": a.free, "largest_free": a.largest_free,
                    "fragmentation": round(a.fragmentation, 4), "top": a.top,
                    "trimmable": a.trimmable} for a in usage.arenas],
        "trimmable": usage.trimmable,
        "tunables": usage.tunables,
    }

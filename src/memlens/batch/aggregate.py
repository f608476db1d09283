"""Fleet-wide answers from a batch dataset: crash signatures, heap sites, growth,
MicroPython object types, and what could not be read."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from memlens.batch.store import read_table


@dataclass(slots=True)
class SignatureStat:
    signature: str
    count: int
    first_seen: float | None
    last_seen: float | None
    reasons: list[str]
    #: "name buildid" of the modules of the dumps with this signature, most common first
    modules: list[str]


@dataclass(slots=True)
class SiteStat:
    site: str
    dumps: int
    blocks: int
    bytes: int


@dataclass(slots=True)
class Growth:
    site: str
    bytes_before: int
    bytes_after: int

    @property
    def growth(self) -> int:
        return self.bytes_after - self.bytes_before


@dataclass(slots=True)
class FleetReport:
    dumps: int
    crashes: int
    errors: int
    signatures: list[SignatureStat] = field(default_factory=list)
    heap_sites: list[SiteStat] = field(default_factory=list)
    heap_functions: list[SiteStat] = field(default_factory=list)
    growth: list[Growth] = field(default_factory=list)
    mpy_types: list[SiteStat] = field(default_factory=list)
    #: leaked blocks by kind and signature across the fleet ("definitely lost: Node")
    leaks: list[SiteStat] = field(default_factory=list)
    error_reasons: list[tuple[str, int]] = field(default_factory=list)


def _signatures(out: str, top: int) -> tuple[list[SignatureStat], int]:
    dumps = read_table(out, "dumps").to_pylist()
    modules = read_table(out, "modules").to_pylist()
    by_key: dict[str, list[str]] = defaultdict(list)
    for m in modules:
        version = m["build_id"] or m["debug_id"] or "?"
        by_key[m["key"]].append(f"{m['name']} {version}")
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for d in dumps:
        if d["signature"]:
            groups[str(d["signature"])].append(d)
    stats = []
    for name, rows in groups.items():
        times = [float(t) for r in rows if isinstance(t := r["time"], (int, float))]
        mods: Counter[str] = Counter(m for r in rows for m in set(by_key[str(r["key"])]))
        stats.append(SignatureStat(
            signature=name, count=len(rows),
            first_seen=min(times) if times else None, last_seen=max(times) if times else None,
            reasons=sorted({str(r["crash_reason"]) for r in rows if r["crash_reason"]}),
            modules=[m for m, _ in mods.most_common(8)],
        ))  # fmt: skip
    stats.sort(key=lambda s: (-s.count, s.signature))
    return stats[:top], sum(s.count for s in stats)


def _sites(rows: list[dict[str, object]], column: str, top: int) -> list[SiteStat]:
    acc: dict[str, list[int]] = {}
    keys: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        name = r[column]
        if not name:
            continue
        slot = acc.setdefault(str(name), [0, 0])
        slot[0] += int(r["blocks"] or 0)  # type: ignore[call-overload]
        slot[1] += int(r["bytes"] or 0)  # type: ignore[call-overload]
        keys[str(name)].add(str(r["key"]))
    stats = [SiteStat(n, len(keys[n]), b, z) for n, (b, z) in acc.items()]
    stats.sort(key=lambda s: (-s.bytes, s.site))
    return stats[:top]


def fleet_report(out: str, *, top: int = 20, baseline: str | None = None) -> FleetReport:
    """The aggregates of the dataset at ``out`` (and its growth over ``baseline``)."""
    dumps = read_table(out, "dumps")
    errors = read_table(out, "errors").to_pylist()
    signatures, crashes = _signatures(out, top)
    heap = read_table(out, "heap_groups").to_pylist()
    mpy = [dict(r, site=r["type"], blocks=r["objects"])
           for r in read_table(out, "mpy_types").to_pylist()]  # fmt: skip
    report = FleetReport(
        dumps=dumps.num_rows, crashes=crashes, errors=len(errors), signatures=signatures,
        heap_sites=_sites(heap, "site", top), heap_functions=_sites(heap, "function", top),
        mpy_types=_sites(mpy, "site", top),
        leaks=_sites([dict(r, site=f"{r['kind']}: {r['signature']}")
                      for r in read_table(out, "leaks").to_pylist()], "site", top),
        error_reasons=Counter(str(e["reason"]) for e in errors).most_common(top),
    )  # fmt: skip
    if baseline is not None:
        before = {s.site: s.bytes for s in _sites(read_table(baseline, "heap_groups").to_pylist(),
                                                  "site", 1 << 30)}  # fmt: skip
        after = {s.site: s.bytes for s in _sites(heap, "site", 1 << 30)}
        growth = [Growth(site, before.get(site, 0), after.get(site, 0))
                  for site in before.keys() | after.keys()]  # fmt: skip
        growth.sort(key=lambda g: (-g.growth, g.site))
        report.growth = [g for g in growth if g.growth > 0][:top]
    return report

"""The ``memlens maps`` table: one row per region, memory use in one unit throughout."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from memlens.analyses.regions import RegionRow
from memlens.render.table import Column, Table, print_table
from memlens.render.units import hex_address
from memlens.sources.live.smaps import Usage

Size = Callable[[int], str]

#: usage columns: header, value of a Usage (None = unknown)
BASIC: tuple[tuple[str, Callable[[Usage], int | None]], ...] = (
    ("rss", lambda u: u.fields.get("Rss")),
    ("pss", lambda u: u.fields.get("Pss")),
    ("uss", lambda u: u.uss),
    ("shared", lambda u: u.shared),
    ("swap", lambda u: u.fields.get("Swap")),
)
EXTENDED: tuple[tuple[str, Callable[[Usage], int | None]], ...] = (
    ("dirty", lambda u: u.dirty),
    ("swappss", lambda u: u.fields.get("SwapPss")),
    ("locked", lambda u: u.fields.get("Locked")),
    ("anonhuge", lambda u: u.fields.get("AnonHugePages")),
    ("hugetlb", lambda u: u.hugetlb),
)


def render_maps(rows: Sequence[RegionRow], word: int, size: Size, *, saved: bool,
                extended: bool = False, soft_dirty: bool = False) -> None:  # fmt: skip
    """Print the table.  Snapshot files get "saved" / "not saved" columns; sources with
    no memory use at all (raw dumps, most cores) get no usage columns."""
    usage_cols = BASIC + (EXTENDED if extended else ())
    with_usage = any(r.usage is not None for r in rows)
    cols = [Column("start"), Column("end"), Column("size", "right"), Column("perm"),
            Column("offset", "right")]  # fmt: skip
    if saved:
        cols += [Column("saved", "right"), Column("not saved", "right")]
    if with_usage:
        cols += [Column(h, "right") for h, _ in usage_cols]
        if extended:
            cols.append(Column("thp", "right"))
    if soft_dirty:
        cols.append(Column("soft-dirty", "right"))
    cols.append(Column("name"))
    table = Table(cols)
    # totals of the known values ("-" when no region's value is known)
    totals: dict[str, int | None] = dict.fromkeys((h for h, _ in usage_cols), None)
    mapped = saved_total = dirty_pages = 0
    for row in rows:
        r = row.region
        cells = [hex_address(r.start, word), hex_address(r.end, word), size(r.size),
                 str(r.perms), f"{r.offset:x}"]  # fmt: skip
        mapped += r.size
        if saved:
            saved_total += row.saved or 0
            cells += [size(row.saved or 0), size(r.size - (row.saved or 0))]
        if with_usage:
            for header, get in usage_cols:
                value = get(row.usage) if row.usage is not None else None
                cells.append("-" if value is None else size(value))
                if value is not None:
                    totals[header] = (totals[header] or 0) + value
            if extended:
                thp = row.usage.counts.get("THPeligible") if row.usage else None
                cells.append("-" if thp is None else str(thp))
        if soft_dirty:
            cells.append("-" if row.soft_dirty is None else str(row.soft_dirty))
            dirty_pages += row.soft_dirty or 0
        cells.append(r.label() + (" [partial]" if row.partial else ""))
        table.add(*cells)
    footer = ["total", f"{len(rows)} regions", size(mapped), "", ""]
    if saved:
        footer += [size(saved_total), size(mapped - saved_total)]
    if with_usage:
        footer += ["-" if v is None else size(v) for v in totals.values()]
        if extended:
            footer.append("")
    if soft_dirty:
        footer.append(f"{dirty_pages} pages")
    footer.append("")
    table.footer = footer
    print_table(table)
    for row in rows:
        if row.note:
            print(f"note: {row.region.label()}: page counts unknown: {row.note}")
    reasons = sorted({row.soft_dirty_reason for row in rows if row.soft_dirty_reason})
    if soft_dirty:
        for reason in reasons:
            print(f"note: soft-dirty counts unknown: {reason}")

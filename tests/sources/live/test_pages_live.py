"""Exact page states of a real process whose memory the test program sets up.

tests/sources/live/pagetarget.c maps, touches, mlocks, drops, shares and write-protects
pages, then prints where; every assertion here is about one of those pages.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np
import pytest
from tests.conftest import need_root
from tests.sources.live.pagetarget import PAGE, Target

import memlens
from memlens.analyses.pages import page_at
from memlens.core.pages import KPAGEFLAG_NAMES, KPAGEFLAG_RAW_NAMES, PageTable
from memlens.core.snapshot import Snapshot
from memlens.sources.live.pagemap import soft_dirty_supported

FLAG = {name: 1 << bit for bit, name in enumerate(KPAGEFLAG_NAMES)}
FLAG.update({name: 1 << bit for bit, name in KPAGEFLAG_RAW_NAMES.items()})


@pytest.fixture
def snap(target: Target) -> Iterator[Snapshot]:
    with memlens.open(target.pid) as s:
        yield s


def table(snap: Snapshot, address: int) -> PageTable:
    t = page_at(snap, address).table
    assert t is not None and len(t) == 1
    return t


def state(snap: Snapshot, address: int) -> tuple[bool, int, int]:
    """(present, count, kpageflags) of the page at ``address``."""
    t = table(snap, address)
    assert t.counts is not None and t.flags is not None
    return bool(t.present[0]), int(t.counts[0]), int(t.flags[0])


def own_pagemap_entry(pid: int, address: int) -> int:
    """The pagemap entry read independently of memlens."""
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(address // PAGE * 8)
        value: int = struct.unpack("<Q", f.read(8))[0]
        return value


def has(flags: int, *names: str) -> bool:
    return all(flags & FLAG[n] for n in names)


def lacks(flags: int, *names: str) -> bool:
    return not any(flags & FLAG[n] for n in names)


def test_touched_anonymous_pages_exactly(target: Target, snap: Snapshot) -> None:
    need_root()
    base = target.addr["anon"]
    present = [i for i in range(16) if table(snap, base + i * PAGE).present[0]]
    assert present == [0, 2, 5, 15]
    for i in present:
        t = table(snap, base + i * PAGE)
        _, count, flags = state(snap, base + i * PAGE)
        assert count == 1
        assert bool(t.exclusive[0]) and not t.file_or_shared[0] and not t.swapped[0]
        assert has(flags, "ANON", "MMAP", "SWAPBACKED", "UPTODATE")
        assert lacks(flags, "UNEVICTABLE", "MLOCKED", "KSM", "ZERO_PAGE", "SLAB", "BUDDY")
        assert int(t.pfn[0]) == own_pagemap_entry(target.pid, base + i * PAGE) & ((1 << 55) - 1)


def test_mlocked_page_is_unevictable_and_mlocked(target: Target, snap: Snapshot) -> None:
    need_root()
    base = target.addr["locked"]
    assert [bool(table(snap, base + i * PAGE).present[0]) for i in range(4)] == [
        False, True, False, False
    ]  # fmt: skip
    _, count, flags = state(snap, base + PAGE)
    assert count == 1
    assert has(flags, "UNEVICTABLE", "MLOCKED", "ANON", "MMAP")


def test_madv_dontneed_drops_pages(target: Target, snap: Snapshot) -> None:
    need_root()
    base = target.addr["dontneed"]
    present = [i for i in range(8) if table(snap, base + i * PAGE).present[0]]
    assert present == [0, 1, 6, 7]


def test_shared_anonymous_page_mapped_by_parent_and_child(target: Target, snap: Snapshot) -> None:
    need_root()
    base = target.addr["shared"]
    t0, t1 = table(snap, base), table(snap, base + 24 * PAGE)
    # shared anonymous memory is shmem: pagemap's "file or shared-anon" bit, not ANON
    assert bool(t0.file_or_shared[0]) and bool(t1.file_or_shared[0])
    _, count0, flags0 = state(snap, base)
    _, count1, _ = state(snap, base + 24 * PAGE)
    assert (count0, count1) == (2, 1)  # the fork child read page 0 only
    assert not t0.exclusive[0] and bool(t1.exclusive[0])
    assert has(flags0, "MMAP", "SWAPBACKED") and lacks(flags0, "ANON")


def test_copy_on_write_pages_after_fork(target: Target, snap: Snapshot) -> None:
    need_root()
    base = target.addr["cow"]
    for i in range(2):
        t = table(snap, base + i * PAGE)
        _, count, flags = state(snap, base + i * PAGE)
        assert count == 2 and not t.exclusive[0] and has(flags, "ANON", "MMAP")


def test_file_pages_in_page_cache(target: Target, snap: Snapshot) -> None:
    need_root()
    base = target.addr["file"]
    present = [i for i in range(4) if table(snap, base + i * PAGE).present[0]]
    assert present == [0, 2]
    for i in present:
        t = table(snap, base + i * PAGE)
        _, count, flags = state(snap, base + i * PAGE)
        assert bool(t.file_or_shared[0]) and count == 1
        assert has(flags, "MMAP", "UPTODATE") and lacks(flags, "ANON", "SWAPBACKED")


def test_guard_region_bit(target: Target, snap: Snapshot) -> None:
    if "guard" not in target.addr:
        pytest.skip("kernel has no MADV_GUARD_INSTALL (Linux 6.15+)")
    base = target.addr["guard"]
    guards = [bool(table(snap, base + i * PAGE).guard[0]) for i in range(3)]
    assert guards == [False, True, False]
    assert [bool(table(snap, base + i * PAGE).present[0]) for i in range(3)] == [
        True, False, False
    ]  # fmt: skip


def test_uffd_write_protect_bit(target: Target, snap: Snapshot) -> None:
    if "uffd" not in target.addr:
        pytest.skip("userfaultfd write-protect is not available to this process")
    base = target.addr["uffd"]
    assert [bool(table(snap, base + i * PAGE).uffd_wp[0]) for i in range(2)] == [True, False]


def test_soft_dirty_after_clear_refs(target: Target) -> None:
    base = target.addr["softdirty"]
    with open(f"/proc/{target.pid}/clear_refs", "w") as f:
        f.write("4")
    assert target.command("touch") == "done"
    with memlens.open(target.pid) as snap:
        bits = [bool(table(snap, base + i * PAGE).soft_dirty[0]) for i in range(2)]
    if bits == [False, False]:
        # memlens's own detection (no write to any target) must agree
        assert not soft_dirty_supported()
        pytest.skip("kernel without CONFIG_MEM_SOFT_DIRTY: the soft-dirty bit never appears")
    assert soft_dirty_supported()
    assert bits == [False, True]


def test_summary_counts_the_flag_sets(target: Target, snap: Snapshot) -> None:
    need_root()
    from memlens.analyses.pages import scan
    from memlens.analyses.pagesummary import summarize

    # mlock split the mapping: the locked page is a region of its own
    regions = [r for r in snap.regions if r.contains(target.addr["locked"] + PAGE)]
    summary = summarize(scan(snap, regions), PAGE, raw=True)
    locked = [g for g in summary.totals if g.flags is not None and g.flags & FLAG["MLOCKED"]]
    assert sum(g.pages for g in locked) == 1
    assert sum(g.pages for g in summary.totals) == sum(
        int(t.present.sum()) for _, t in snap.iter_page_tables(regions) if t is not None
    )


def test_maps_lines_with_spaces_deleted_and_vsyscall(target: Target, snap: Snapshot) -> None:
    by_start = {r.start: r for r in snap.regions}
    data = by_start[target.addr["file"]]
    assert data.path == str(target.dir / "page target data") and not data.deleted
    gone = by_start[target.addr["deleted"]]
    assert gone.path == str(target.dir / "gone file") and gone.deleted
    assert gone.name == str(target.dir / "gone file") + " (deleted)"
    vsys = [r for r in snap.regions if r.name == "[vsyscall]"]
    if not vsys:
        pytest.skip("this kernel maps no [vsyscall]")
    t = snap.page_table(vsys[0])
    assert t is not None and len(t) == 0 and "task size" in t.unavailable["pagemap"]
    assert t.partial is None


def test_pfn_matches_an_independent_read(target: Target, snap: Snapshot) -> None:
    need_root()
    region = snap.space.region_at(target.addr["dontneed"])
    assert region is not None
    t = snap.page_table(region)
    assert t is not None
    with open(f"/proc/{target.pid}/pagemap", "rb") as f:
        f.seek(region.start // PAGE * 8)
        mine = np.frombuffer(f.read(len(t) * 8), dtype="<u8")
    assert np.array_equal(t.entries, mine)


def test_bulk_kpage_reads_match_single_reads(target: Target, snap: Snapshot) -> None:
    """Runs of PFNs read at once give what one 8-byte read per PFN gives.

    Only the target's private anonymous pages, whose counts do not move while
    other processes come and go; the LRU-aging bits may, so they are masked.
    """
    need_root()
    from memlens.sources.live.pagemap import read_kpage

    pfns = []
    for name in ("anon", "dontneed", "cow", "softdirty"):
        for i in range(2):
            t = table(snap, target.addr[name] + i * PAGE)
            if t.present[0]:
                pfns.append(int(t.pfn[0]))
    pfns += [pfns[0], pfns[-1], 1 << 50]  # repeats, and a PFN past the end
    aging = FLAG["LRU"] | FLAG["ACTIVE"] | FLAG["REFERENCED"] | FLAG["IDLE"]
    for path, mask in (("/proc/kpageflags", ~aging), ("/proc/kpagecount", ~0)):
        bulk = read_kpage(path, np.array(pfns, dtype=np.uint64))
        with open(path, "rb") as f:
            single = []
            for pfn in pfns:
                f.seek(pfn * 8)
                raw = f.read(8)
                single.append(struct.unpack("<Q", raw)[0] if len(raw) == 8 else 0)
        assert [v & mask for v in bulk.tolist()] == [v & mask for v in single]
        assert bulk.tolist()[-1] == 0

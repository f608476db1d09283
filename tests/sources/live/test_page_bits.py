"""Flag names as the kernel defines them, ``--bits`` like ``page-types -b``, ``--list`` ranges.

The oracle: the bit numbers of the kernel's ``include/uapi/linux/kernel-page-flags.h``
and ``include/linux/kernel-page-flags.h`` typed in here (not memlens's table), the
pagemap and /proc/kpageflags read here directly, and page-types's filter rules
(``tools/mm/page-types.c`` usage text) reimplemented in this file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from tests.conftest import need_root
from tests.sources.live.pagetarget import PAGE, Target

from memlens.cli.main import main

# include/uapi/linux/kernel-page-flags.h and include/linux/kernel-page-flags.h
KPF_ERROR, KPF_REFERENCED, KPF_ACTIVE, KPF_SLAB, KPF_WRITEBACK, KPF_RECLAIM = 1, 2, 6, 7, 8, 9
KPF_LRU, KPF_ANON, KPF_IDLE, KPF_OWNER_2, KPF_MLOCKED = 5, 12, 25, 34, 33
# the pagemap entry (Documentation/admin-guide/mm/pagemap.rst)
PM_SOFT_DIRTY, PM_MMAP_EXCLUSIVE, PM_FILE, PM_SWAP, PM_PRESENT = 55, 56, 61, 62, 63
PM_GUARD = 58
# tools/mm/page-types.c's own slots for the flags it expands
X_ANON_EXCLUSIVE, X_READAHEAD, X_SOFTDIRTY = 47, 48, 40
X_FILE, X_SWAP, X_MMAP_EXCLUSIVE = 61, 62, 63
#: flipped by the kernel (DAMON) between two reads
VOLATILE = 1 << KPF_IDLE | 1 << KPF_REFERENCED


def _read_u64(path: str, index: int, count: int) -> list[int]:
    with open(path, "rb") as f:
        f.seek(index * 8)
        data = f.read(count * 8)
    return list(struct.unpack(f"<{len(data) // 8}Q", data))


def _pages(pid: int) -> list[tuple[int, int, int]]:
    """(address, pagemap entry, kpageflags) of every present or swapped page, read here."""
    out = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo >= 1 << 63:
            continue
        for i, entry in enumerate(_read_u64(f"/proc/{pid}/pagemap", lo // PAGE, (hi - lo) // PAGE)):
            if entry >> PM_PRESENT & 1:
                pfn = entry & ((1 << 55) - 1)
                out.append((lo + i * PAGE, entry, _read_u64("/proc/kpageflags", pfn, 1)[0]))
            elif entry >> PM_SWAP & 1 and not entry >> PM_GUARD & 1:
                # a guard-region marker (6.15) reads as a swap entry; page-types predates
                # them and would count it as swap, memlens does not
                out.append((lo + i * PAGE, entry, 0))
    return out


def _expand(flags: int, entry: int) -> int:
    """page-types -r's expansion of one page's flags."""
    if flags >> KPF_ANON & 1 and flags >> KPF_OWNER_2 & 1:
        flags ^= 1 << KPF_OWNER_2 | 1 << X_ANON_EXCLUSIVE
    if flags >> KPF_SLAB & 1:
        if flags >> KPF_ACTIVE & 1:
            flags ^= 1 << KPF_ACTIVE | 1 << 50
        if flags >> KPF_ERROR & 1:
            flags ^= 1 << KPF_ERROR | 1 << 51
    if flags & (1 << KPF_RECLAIM | 1 << KPF_WRITEBACK) == 1 << KPF_RECLAIM:
        flags ^= 1 << KPF_RECLAIM | 1 << X_READAHEAD
    for src, dst in ((PM_SOFT_DIRTY, X_SOFTDIRTY), (PM_FILE, X_FILE), (PM_SWAP, X_SWAP),
                     (PM_MMAP_EXCLUSIVE, X_MMAP_EXCLUSIVE)):  # fmt: skip
        if entry >> src & 1:
            flags |= 1 << dst
    return flags


#: specs with their (mask, bits) as page-types's usage text defines them (bits None: any)
SPECS = {
    "anon_exclusive": (1 << X_ANON_EXCLUSIVE, None),
    "anon,~anon_exclusive": (1 << KPF_ANON | 1 << X_ANON_EXCLUSIVE, 1 << KPF_ANON),
    "file,swap": (1 << X_FILE | 1 << X_SWAP, None),
    "lru,mlocked=mlocked": (1 << KPF_LRU | 1 << KPF_MLOCKED, 1 << KPF_MLOCKED),
    "mmap_exclusive,~file": (1 << X_MMAP_EXCLUSIVE | 1 << X_FILE, 1 << X_MMAP_EXCLUSIVE),
}


def _oracle(pages: list[tuple[int, int, int]], spec: str) -> set[int]:
    mask, bits = SPECS[spec]
    out = set()
    for address, entry, flags in pages:
        x = _expand(flags, entry)
        if (x & mask != 0) if bits is None else (x & mask == bits):
            out.add(address)
    return out


def _listed(capsys: pytest.CaptureFixture[str], pid: int, *args: str) -> set[int]:
    assert main(["pages", str(pid), *args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "pages-list"
    return {r["start"] + i * PAGE for g in doc["regions"] for r in g["ranges"]
            for i in range(r["pages"])}  # fmt: skip


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_bits_select_the_pages_page_types_would(
    target: Target, spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    need_root()
    ours = _listed(capsys, target.pid, "--bits", spec)
    theirs = _oracle(_pages(target.pid), spec)
    assert ours == theirs
    if spec == "anon_exclusive":
        assert target.addr["anon"] in ours  # written, never shared: exclusive
        assert target.addr["cow"] not in ours  # shared with the fork child


def test_bit_34_is_named_by_page_kind(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    need_root()
    assert main(["pages", str(target.pid), "--raw", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    seen = {"ANON_EXCLUSIVE": 0, "MAPPEDTODISK": 0}
    for region in doc["regions"]:
        for page in region["pages"] or []:
            flags, names = page.get("kpageflags"), page.get("flag_names")
            if flags is None:
                continue
            anon, bit34 = flags >> KPF_ANON & 1, flags >> KPF_OWNER_2 & 1
            assert ("ANON_EXCLUSIVE" in names) == bool(bit34 and anon), page
            assert ("MAPPEDTODISK" in names) == bool(bit34 and not anon), page
            reclaim = flags >> KPF_RECLAIM & 1 and not flags >> KPF_WRITEBACK & 1
            assert ("READAHEAD" in names) == bool(reclaim), page
            for name in seen:
                seen[name] += name in names
    assert seen["ANON_EXCLUSIVE"] > 0


def test_list_ranges_are_runs_of_frames(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    need_root()
    assert main(["pages", str(target.pid), "--list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_address = {a: (e, f) for a, e, f in _pages(target.pid)}
    listed = 0
    for region in doc["regions"]:
        for r in region["ranges"]:
            for i in range(r["pages"]):
                entry, flags = by_address[r["start"] + i * PAGE]
                if not r["swapped"]:
                    assert entry & ((1 << 55) - 1) == r["pfn"] + i
                stable = ~VOLATILE & ((1 << 64) - 1)
                assert _expand(flags, entry) & stable == r["flags"] & stable
            listed += r["pages"]
    assert listed == len(by_address)


def test_unknown_bit_name_is_one_line(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pages", str(target.pid), "--bits", "anon,nosuchflag"]) == 2
    err = capsys.readouterr().err
    assert "nosuchflag" in err and len(err.strip().splitlines()) == 1


def test_summary_counts_the_flag_sets_page_types_counts(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pages --summary --raw`` totals against page-types -r's counting, done here: each
    present or swapped page's expanded flags (kpageflags, overloaded bits moved, pagemap
    bits added), pages per distinct word; IDLE and REFERENCED masked (the kernel flips
    them between two reads)."""
    need_root()
    stable = ~VOLATILE & ((1 << 64) - 1)
    for _ in range(5):
        theirs: dict[int, int] = {}
        for _, entry, flags in _pages(target.pid):
            key = _expand(flags, entry) & stable
            theirs[key] = theirs.get(key, 0) + 1
        assert main(["pages", str(target.pid), "--summary", "--raw", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        ours: dict[int, int] = {}
        words = {"file-page": X_FILE, "exclusive": X_MMAP_EXCLUSIVE, "soft-dirty": X_SOFTDIRTY}
        for g in doc["totals"]:
            if g["state"] == "guard":
                continue  # page-types predates guard markers (see _pages)
            entry = sum(1 << {"file-page": PM_FILE, "exclusive": PM_MMAP_EXCLUSIVE,
                              "soft-dirty": PM_SOFT_DIRTY}[w]
                        for w in g["pagemap_bits"] if w in words)  # fmt: skip
            if g["state"] == "swapped":
                entry |= 1 << PM_SWAP
            key = _expand(g["kpageflags"] or 0, entry) & stable
            ours[key] = ours.get(key, 0) + g["pages"]
        if ours == theirs:
            break
    assert ours == theirs


def _all_flags() -> list[int]:
    out: list[int] = []
    with open("/proc/kpageflags", "rb") as f:
        while chunk := f.read(1 << 20):
            out += struct.unpack(f"<{len(chunk) // 8}Q", chunk)
    return out


def test_system_summary_counts_every_physical_page(capsys: pytest.CaptureFixture[str]) -> None:
    """``pages --system``: page-types with no -p.  The number of frames and the reserved
    ones (bit 32: memory the kernel never hands out) do not change between two reads."""
    need_root()
    flags = _all_flags()
    assert main(["pages", "--system", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sum(g["pages"] for g in doc["totals"]) == len(flags)
    assert main(["pages", "--system", "--raw", "--bits", "reserved", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sum(g["pages"] for g in doc["totals"]) == sum(1 for f in flags if f >> 32 & 1)
    assert all("RESERVED" in g["flag_names"] for g in doc["totals"])


def test_system_needs_no_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pages", "--system", "1"]) == 2
    assert "no TARGET" in capsys.readouterr().err

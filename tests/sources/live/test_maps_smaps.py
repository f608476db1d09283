"""``memlens maps`` agrees with /proc/PID/smaps field by field on the mapping zoo.

The zoo (tests/sources/live/pagetarget.c) has holes, MADV_DONTNEED ranges, a zero-page
range, THP, a file with spaces in its name, a deleted file, a memfd, MAP_SHARED
anonymous memory, /dev/zero, mlock, PROT_NONE and a fork child sharing pages;
hugetlb when the kernel has a free huge page.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.sources.live.pagetarget import PAGE, Target
from tests.sources.live.smaps import Mapping, read_smaps

import memlens
from memlens.cli.main import main

#: flipped by the kernel between two reads (DAMON, reclaim scans)
NOISY = {"Referenced"}
#: what other processes change by mapping the same library pages between two reads
SHARING = {"Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean",
           "Shared_Dirty", "Private_Clean", "Private_Dirty"}  # fmt: skip


def _maps_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[int, dict[str, object]]:
    assert main(["maps", *args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {r["start"]: r for r in doc["regions"]}


def _stable(m: Mapping, fields: dict[str, int], here: Path) -> dict[str, int]:
    """The fields nothing but the zoo can change (sharing only of the zoo's own mappings)."""
    foreign = m.path.startswith("/") and not m.path.startswith(str(here))
    return {k: v for k, v in fields.items()
            if k not in NOISY and not (foreign and k in SHARING)}  # fmt: skip


def test_every_smaps_field_of_every_mapping(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _maps_json(capsys, str(target.pid))
    kernel = read_smaps(target.pid)
    assert sorted(rows) == [m.start for m in kernel]
    for m in kernel:
        row = rows[m.start]
        smaps = row["smaps"]
        assert isinstance(smaps, dict)
        kernel_bytes = {k: v * 1024 for k, v in m.fields.items()}
        assert _stable(m, smaps, target.dir) == _stable(m, kernel_bytes, target.dir), m.path
        f = m.fields
        assert row["rss"] == f["Rss"] * 1024
        assert row["swap"] == f["Swap"] * 1024
        assert row["uss"] == smaps["Private_Clean"] + smaps["Private_Dirty"]
        assert row["shared"] == smaps["Shared_Clean"] + smaps["Shared_Dirty"]
        assert row["pss"] == smaps["Pss"]


def test_the_zoo_as_smaps_counts_it(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _maps_json(capsys, str(target.pid))
    zero = rows[target.addr["zero"]]
    # four pages map the shared zero page: present in pagemap, not in Rss
    assert zero["resident_pages"] == 4 and zero["rss"] == 0
    big = rows[target.addr["bigshared"]]
    assert big["rss"] == PAGE and big["kind"] == "anon" and big["path"] is None
    assert big["name"] == "/dev/zero (deleted)" and big["perms"] == "rw-s"
    devzero = rows[target.addr["devzero"]]
    assert devzero["kind"] == "anon" and devzero["rss"] == PAGE
    memfd = rows[target.addr["memfd"]]
    assert memfd["kind"] == "file" and memfd["path"] == "/memfd:zoo memfd" and memfd["deleted"]
    locked = next(r for r in rows.values()
                  if r["start"] <= target.addr["locked"] + PAGE < r["end"])  # fmt: skip
    assert locked["smaps"]["Locked"] == locked["rss"] == PAGE  # type: ignore[index]
    thp = next(r for r in rows.values() if r["start"] <= target.addr["thp"] < r["end"])
    assert thp["rss"] == 2 << 20
    if thp["smaps_counts"]["THPeligible"] == 1:  # type: ignore[index]
        assert thp["smaps"]["AnonHugePages"] in (0, 2 << 20)  # type: ignore[index]
    assert rows[target.addr["protnone"]]["rss"] == 0
    spaced = rows[target.addr["file"]]
    assert spaced["path"] == str(target.dir / "page target data") and spaced["rss"] == 2 * PAGE


def test_hugetlb_is_counted_as_smaps_does(target: Target,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    if "hugetlb" not in target.addr:
        pytest.skip("kernel has no free hugetlb page (vm.nr_hugepages could not be raised)")
    row = _maps_json(capsys, str(target.pid))[target.addr["hugetlb"]]
    assert row["kind"] == "anon" and row["rss"] == 0
    smaps = row["smaps"]
    assert isinstance(smaps, dict)
    # written before the fork: the child maps it too (Shared_Hugetlb), never Rss
    assert smaps["Private_Hugetlb"] + smaps["Shared_Hugetlb"] == 2 << 20


def test_snapshot_usage_from_page_tables_matches_smaps(target: Target, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       ) -> None:  # fmt: skip
    """A memlens snapshot has no smaps: its Rss/Pss/Uss come from pagemap, kpagecount and
    kpageflags, and must match what the kernel said of the live process."""
    if os.geteuid() != 0:
        pytest.skip("kpageflags/kpagecount need root")
    core = tmp_path / "zoo.core"
    assert main(["snapshot", str(target.pid), "-o", str(core)]) == 0
    capsys.readouterr()
    kernel = {m.start: m for m in read_smaps(target.pid)}
    rows = _maps_json(capsys, str(core))
    ours = [a for n, a in target.addr.items() if n != "child"]
    checked = 0
    for start, row in rows.items():
        m = kernel.get(start)
        if m is None or not any(start <= a < m.end for a in ours) or row["smaps"] is None:
            continue
        f = m.fields
        assert row["rss"] == f["Rss"] * 1024, m.path
        assert row["uss"] == (f["Private_Clean"] + f["Private_Dirty"]) * 1024, m.path
        assert abs(int(row["pss"]) - f["Pss"] * 1024) < 1024, m.path  # type: ignore[call-overload]
        checked += 1
    assert checked >= 10


def test_maps_of_a_process_that_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    with memlens.open(os.getpid()):
        pass
    code = main(["maps", str(2**22 + 12345)])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err

"""``memlens snapshot`` touches nothing, and memlens reads back every region it wrote.

The mapping zoo (tests/sources/live/pagetarget.c) holds 1 GiB of MAP_SHARED anonymous
memory with one page written, private ranges with holes and zero-page reads,
shmem, a deleted file...: the kernel's own accounting (VmRSS, every smaps
field but the accessed bits) must read the same after a snapshot as before.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.sources.live.pagetarget import PAGE, Target, asleep, start_sleeper, wait_for
from tests.sources.live.smaps import read_smaps, vm_rss

import memlens
from memlens.cli.main import main

#: fields the kernel changes by itself or that depend on other processes' mappings
NOISY = {"Referenced"}
SHARING = {"Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean",
           "Shared_Dirty", "Private_Clean", "Private_Dirty"}  # fmt: skip


def _comparable(target: Target) -> dict[tuple[int, int], dict[str, int]]:
    """smaps per mapping; sharing fields only where no other process can change them
    (not the libraries and programs every process maps)."""
    out = {}
    for m in read_smaps(target.pid):
        foreign = m.path.startswith("/") and not m.path.startswith(str(target.dir))
        fields = {k: v for k, v in m.fields.items()
                  if k not in NOISY and not (foreign and k in SHARING)}  # fmt: skip
        out[m.start, m.end] = fields
    return out


def test_snapshot_leaves_rss_and_smaps_unchanged(target: Target, tmp_path: Path) -> None:
    before_rss, before = vm_rss(target.pid), _comparable(target)
    big = target.addr["bigshared"]
    assert before[big, big + (1 << 30)]["Rss"] == PAGE // 1024  # one page of 1 GiB
    core = tmp_path / "zoo.core"
    assert main(["snapshot", str(target.pid), "-o", str(core)]) == 0
    after_rss, after = vm_rss(target.pid), _comparable(target)
    assert after == before, _diff(before, after)
    assert after_rss == before_rss
    # ... and the core is sparse: it holds the resident pages, not the 1 GiB
    assert core.stat().st_blocks * 512 < 256 << 20


def test_saved_pages_are_the_present_pages(target: Target, tmp_path: Path) -> None:
    core = tmp_path / "zoo.core"
    assert main(["snapshot", str(target.pid), "-o", str(core)]) == 0
    with memlens.open(target.pid) as live:
        present = {}
        private = set()  # private anonymous regions (a core does not tell unnamed ones)
        for region, table in live.iter_page_tables(list(live.regions), kpage=False):
            assert table is not None
            present[region.start] = table.present.copy() if len(table) else None
            if not region.path and not region.perms.shared and region.kind.name in (
                    "ANON", "HEAP", "STACK"):  # fmt: skip
                private.add(region.start)
    with memlens.open(str(core)) as snap:
        big = snap.space.region_at(target.addr["bigshared"])
        assert big is not None
        assert snap.space.saved_bytes(big.start, big.end) == PAGE
        assert snap.space.read(big.start, 1) == b"\x01"
        with pytest.raises(memlens.AddressError, match="not saved"):
            snap.space.read(big.start + PAGE, 1)
        zero = target.addr["zero"]
        # never touched, private: zeros, saved without being read; and the zero page
        assert snap.space.read(zero, 8 * PAGE) == bytes(8 * PAGE)
        for region in snap.regions:
            table = snap.page_table(region)  # every region's note decodes
            assert table is not None
            live_present = present[region.start]
            if live_present is None or not region.perms.read:
                assert snap.space.saved_bytes(region.start, region.end) == 0
                continue
            saved = np.array([snap.space.is_readable(region.start + i * PAGE, PAGE)
                              for i in range(len(table))])  # fmt: skip
            if region.start in private:
                # private anonymous: what was present, and what was never touched (zeros)
                assert np.array_equal(saved, ~table.swapped | table.present), region.name
                continue
            # [vvar]-like pages may be present yet unreadable: saved never exceeds present
            assert not (saved & ~table.present).any(), region.name
            if region.name == "/dev/zero (deleted)":  # shared anonymous
                assert np.array_equal(saved, table.present), region.name


def _snapshot_and_read(pid: int, core: Path) -> None:
    assert main(["snapshot", str(pid), "-o", str(core)]) == 0
    assert main(["info", str(core)]) == 0
    with memlens.open(str(core)) as snap:
        assert snap.has_residency
        for region in snap.regions:
            table = snap.page_table(region)
            assert table is not None, region
            assert len(table) <= -(-region.size // PAGE)


@pytest.mark.parametrize("program", ["sleep", "python3"])
def test_memlens_reads_its_own_snapshots(program: str, tmp_path: Path) -> None:
    proc = (start_sleeper() if program == "sleep" else
            subprocess.Popen(["python3", "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE))  # fmt: skip
    try:
        assert wait_for(lambda: asleep(proc.pid))
        _snapshot_and_read(proc.pid, tmp_path / f"{program}.core")
    finally:
        proc.kill()
        proc.wait()


def test_memlens_reads_its_snapshot_of_the_zoo(target: Target, tmp_path: Path) -> None:
    _snapshot_and_read(target.pid, tmp_path / "zoo.core")



Smaps = dict[tuple[int, int], dict[str, int]]


def _diff(a: Smaps, b: Smaps) -> list[str]:
    """The fields that changed, for the failure message."""
    return [f"{k[0]:x} {f}: {a.get(k, {}).get(f)} -> {b.get(k, {}).get(f)}"
            for k in a.keys() | b.keys() for f in a.get(k, {}).keys() | b.get(k, {}).keys()
            if a.get(k, {}).get(f) != b.get(k, {}).get(f)]  # fmt: skip


def test_memlens_reads_the_cores_of_run_core(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", "--core", "--out", str(out)]) == 0  # the built-in demo program
    cores = sorted(out.glob("*.core"))
    assert cores
    for core in cores:
        assert main(["info", str(core)]) == 0
        with memlens.open(str(core)) as snap:
            assert all(snap.page_table(r) is not None for r in snap.regions)


def test_pages_of_a_snapshot_is_complete(target: Target, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """[vsyscall] has no page table: said so, but the core is not a partial result."""
    core = tmp_path / "zoo.core"
    assert main(["snapshot", str(target.pid), "-o", str(core)]) == 0
    assert main(["pages", str(core), "--summary"]) == 0
    assert main(["maps", str(core)]) == 0
    assert "partial" not in capsys.readouterr().err


@pytest.mark.parametrize("verb", [["snapshot", "-o", "CORE"], ["maps"], ["pages", "--json"],
                                  ["procs"]])  # fmt: skip
def test_a_process_that_exited_gives_one_line(
    verb: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zombie (exited, not yet reaped): its /proc entry is there, its memory is not."""
    proc = subprocess.Popen(["true"])
    assert wait_for(lambda: Path(f"/proc/{proc.pid}/stat").read_text().split(")")[1].split()[0]
                    == "Z")  # fmt: skip
    try:
        args = [verb[0], str(proc.pid), *(str(tmp_path / "x.core") if a == "CORE" else a
                                           for a in verb[1:])]  # fmt: skip
        code = main(args)
        err = capsys.readouterr().err
        assert code != 0 and "Traceback" not in err
        # one line saying so (procs says it as a note of its table, exit code 3)
        assert len(err.strip().splitlines()) == (0 if verb[0] == "procs" else 1), err
    finally:
        proc.wait()


def test_reads_and_searches_touch_nothing(target: Target,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """``read`` and ``find`` on a live PID: a never-touched private page reads as zeros
    without being mapped, a shared or swapped one is refused, nothing is faulted in."""
    before_rss, before = vm_rss(target.pid), _comparable(target)
    big, zero = target.addr["bigshared"], target.addr["zero"]
    entry_before = _entry(target.pid, zero + 5 * PAGE)
    assert main(["read", str(target.pid), hex(zero + 5 * PAGE), "16"]) == 0
    assert main(["read", str(target.pid), hex(big + PAGE), "16"]) == 1
    err = capsys.readouterr().err
    assert "not resident" in err and len(err.strip().splitlines()) == 1
    assert main(["find", str(target.pid), "--string", "no such text anywhere", "--count"]) == 0
    assert main(["find", str(target.pid), "--hex", "0x0101010101010101", "--count"]) == 0
    capsys.readouterr()
    assert _entry(target.pid, zero + 5 * PAGE) == entry_before == 0  # not even the zero page
    assert vm_rss(target.pid) == before_rss
    assert _comparable(target) == before


def _entry(pid: int, address: int) -> int:
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(address // PAGE * 8)
        return int.from_bytes(f.read(8), "little") & ~(1 << 55)  # soft-dirty aside

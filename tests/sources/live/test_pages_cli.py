"""``memlens pages`` and ``memlens maps`` on real processes: exact lines, JSON, modes."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys

import pytest
from tests.conftest import ROOT, need_root
from tests.sources.live.pagetarget import PAGE, Target

import memlens
from memlens.cli.main import main
from memlens.core.pages import KPAGEFLAG_NAMES
from memlens.render.pagelines import render_table
from memlens.sources.live.pagemap import soft_dirty_supported


def kpage(path: str, pfn: int) -> int:
    with open(path, "rb") as f:
        f.seek(pfn * 8)
        value: int = struct.unpack("<Q", f.read(8))[0]
        return value


def pagemap(pid: int, address: int) -> int:
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(address // PAGE * 8)
        value: int = struct.unpack("<Q", f.read(8))[0]
        return value


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_address_line_matches_independent_reads(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    need_root()
    addr = target.addr["anon"] + 2 * PAGE + 123  # inside page 2
    code, out, _ = run(capsys, "pages", str(target.pid), "--address", f"{addr:x}")
    assert code == 0
    page = addr - addr % PAGE
    pfn = pagemap(target.pid, page) & ((1 << 55) - 1)
    flags = kpage("/proc/kpageflags", pfn)
    names = ",".join(n for b, n in enumerate(KPAGEFLAG_NAMES) if flags >> b & 1)
    lines = out.strip("\n").split("\n")
    assert lines[-1] == f"{page:016x}  phys {pfn * PAGE:016x}  exclusive  count 1  {names}"


def test_address_of_a_page_not_present(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    addr = target.addr["anon"] + PAGE
    code, out, _ = run(capsys, "pages", str(target.pid), "--address", hex(addr))
    assert code == 0 and out.strip("\n").split("\n")[-1] == f"{addr:016x}  not present"


def test_address_zero_is_expressible(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pages", str(target.pid), "--address", "0")
    assert code == 1 and out == ""
    assert err == "memlens: error: address 0x0: not in any mapped region\n"


def test_runs_of_missing_pages_fold(target: Target) -> None:
    need_root()
    base = target.addr["anon"]
    with memlens.open(target.pid) as snap:
        region = snap.space.region_at(base)
        assert region is not None
        t = snap.page_table(region.replace(start=base, end=base + 16 * PAGE))
        assert t is not None
        lines = render_table(t).decode().splitlines()
    assert [ln.split()[0] for ln in lines] == [
        f"{base:016x}", "...", f"{base + 2 * PAGE:016x}", "...", f"{base + 5 * PAGE:016x}",
        "...", f"{base + 15 * PAGE:016x}",
    ]  # fmt: skip
    assert lines[1] == "... 1 pages not present ..."
    assert lines[3] == "... 2 pages not present ..."
    assert lines[5] == "... 9 pages not present ..."


def test_summary_total_equals_resident_pages_of_maps(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    need_root()
    code, out, _ = run(capsys, "pages", str(target.pid), "--summary", "--json")
    assert code == 0
    summary = json.loads(out)
    code, out, _ = run(capsys, "maps", str(target.pid), "--json")
    maps = json.loads(out)
    resident = sum(r["resident_pages"] or 0 for r in maps["regions"])
    assert sum(g["pages"] for g in summary["totals"] if g["state"] == "present") == resident
    assert sum(g["pages"] for g in summary["groups"] if g["state"] == "present") == resident
    guards = [g for g in summary["totals"] if g["state"] == "guard"]
    assert [g["pages"] for g in guards] == ([1] if "guard" in target.addr else [])
    unevictable = [g for g in summary["totals"] if "UNEVICTABLE" in g["flag_names"]]
    assert sum(g["pages"] for g in unevictable) == 1
    if any(r["name"] == "[vsyscall]" for r in maps["regions"]):
        vsys = next(r for r in maps["regions"] if r["name"] == "[vsyscall]")
        assert vsys["resident_pages"] is None and "task size" in vsys["note"]
        assert [r["name"] for r in summary["regions_without_page_table"]] == ["[vsyscall]"]


def test_maps_areas_matching_twice_print_once(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "maps", str(target.pid), "--areas", "page target,target data",
                       "--json")  # fmt: skip
    regions = json.loads(out)["regions"]
    assert code == 0 and len(regions) == 1
    assert regions[0]["path"] == str(target.dir / "page target data")
    assert regions[0]["resident_pages"] == 2
    # soft-dirty is a count only where the kernel tracks it, never a false zero;
    # a new mapping is VM_SOFTDIRTY, so both of its pages count
    expected = 2 if soft_dirty_supported() else None
    assert regions[0]["soft_dirty_pages"] == expected


def test_maps_text_marks_vsyscall_unknown(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    # the memory columns are smaps's (which lists [vsyscall] with Rss 0); the page-table
    # count of --soft-dirty is unknown there
    code, out, _ = run(capsys, "maps", str(target.pid), "--areas", "vsyscall", "--soft-dirty")
    assert code == 0
    if "[vsyscall]" not in out:
        pytest.skip("this kernel maps no [vsyscall]")
    row = next(ln for ln in out.splitlines() if ln.endswith("[vsyscall]")).split()
    assert row[-7:] == ["0", "0", "0", "0", "0", "-", "[vsyscall]"]
    assert out.splitlines()[-1].startswith("note: [vsyscall]: page counts unknown: above the task")


def test_pages_json_of_one_page(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    need_root()
    addr = target.addr["cow"]
    code, out, _ = run(capsys, "pages", str(target.pid), "--address", hex(addr), "--json", "--raw")
    doc = json.loads(out)
    assert code == 0 and doc["schema_version"] == 1 and doc["address"] == addr
    [page] = doc["regions"][0]["pages"]
    assert page["address"] == addr and page["state"] == "present" and page["count"] == 2
    assert page["pfn"] == pagemap(target.pid, addr) & ((1 << 55) - 1)
    assert page["kpageflags"] == kpage("/proc/kpageflags", page["pfn"])
    assert "exclusive" not in page["pagemap_bits"] and "ANON" in page["flag_names"]


def test_unprivileged_mode_reports_presence_and_why_the_rest_is_missing(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """memlens in a child whose bounding set lacks CAP_SYS_ADMIN (a real drop, no mock)."""
    need_root()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    cmd = [setpriv, "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin",
           sys.executable, "-m", "memlens"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([*cmd, "pages", str(sleeper.pid), "--json"], capture_output=True,
                         text=True, env=env, check=True).stdout  # fmt: skip
    regions = json.loads(out)["regions"]
    pages = [p for r in regions for p in (r["pages"] or [])]
    assert len(pages) > 0 and all(p["state"] == "present" for p in pages)
    assert all(p["pfn"] is None and p["count"] is None and p["kpageflags"] is None for p in pages)
    reasons = {r["unavailable"].get("pfn") for r in regions if r["name"] != "[vsyscall]"}
    assert reasons == {"needs CAP_SYS_ADMIN (run as root)"}
    text = subprocess.run([*cmd, "pages", str(sleeper.pid), "--areas", "[stack]"],
                          capture_output=True, text=True, env=env, check=True).stdout  # fmt: skip
    assert "(physical address, count and flags unavailable: needs CAP_SYS_ADMIN" in text
    page_lines = [ln for ln in text.splitlines() if re.match(r"[0-9a-f]{16}  ", ln)]
    assert page_lines and all(re.fullmatch(r"[0-9a-f]{16}  present(  exclusive)?", ln)
                              for ln in page_lines)  # fmt: skip
    summary = subprocess.run([*cmd, "pages", str(sleeper.pid), "--summary"], capture_output=True,
                             text=True, env=env, check=True).stdout  # fmt: skip
    assert "note: kpageflags unavailable: needs CAP_SYS_ADMIN (run as root)" in summary


def test_unprivileged_mode_by_mocking_only_the_capability_check(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("memlens.sources.live.pagemap.has_cap_sys_admin", lambda: False)
    with memlens.open(target.pid) as snap:
        region = snap.space.region_at(target.addr["anon"])
        assert region is not None
        t = snap.page_table(region)
    assert t is not None and t.flags is None and t.counts is None
    assert t.unavailable["flags"] == "needs CAP_SYS_ADMIN (run as root)"
    first = (target.addr["anon"] - region.start) // PAGE
    assert [bool(x) for x in t.present[first : first + 3]] == [True, False, True]


def test_huge_reservation_is_not_scanned_page_by_page(capsys: pytest.CaptureFixture[str]) -> None:
    """A 128 GiB PROT_NONE reservation: no 256 MiB table, a reason instead of counts."""
    code = ("import mmap, sys; m = mmap.mmap(-1, 128 << 30, prot=0, "
            "flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000); "  # MAP_NORESERVE
            "print(m.__len__(), flush=True); sys.stdin.read()")  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == str(128 << 30)
        assert main(["maps", str(child.pid), "--json"]) == 0
        regions = json.loads(capsys.readouterr().out)["regions"]
        [huge] = [r for r in regions if r["size"] == 128 << 30]
        assert huge["resident_pages"] is None and huge["perms"] == "---p"
        assert huge["note"] == (f"too large for a per-page table ({(128 << 30) // PAGE} pages, "
                                f"more than {1 << 24}); not scanned")  # fmt: skip
        assert main(["pages", str(child.pid), "--summary", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert huge["start"] in [r["start"] for r in summary["regions_without_page_table"]]
    finally:
        child.kill()
        child.wait()


def test_ndjson_holds_the_same_pages_as_json(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "pages", str(target.pid), "--areas", "[stack],page target",
                       "--json")  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    code, out, _ = run(capsys, "pages", str(target.pid), "--areas", "[stack],page target",
                       "--ndjson")  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["type"] == "pages" and lines[0]["target"] == doc["target"]
    regions = [{k: v for k, v in r.items() if k != "pages"} for r in doc["regions"]]
    assert [{k: v for k, v in ln.items() if k != "type"} for ln in lines
            if ln["type"] == "region"] == regions  # fmt: skip
    volatile = ("flag_names", "kpageflags")  # IDLE/REFERENCED flip between the two reads
    pages = [{k: v for k, v in p.items() if k not in volatile}
             for r in doc["regions"] for p in r["pages"]]  # fmt: skip
    assert [{k: v for k, v in ln.items() if k not in (*volatile, "type")} for ln in lines
            if ln["type"] == "page"] == pages  # fmt: skip
    assert pages  # the stack and the file's two read pages

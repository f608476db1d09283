"""The shared minidump fixtures against their oracles (fixtures/README.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import memlens
from memlens.cli.main import main
from memlens.core.region import RegionKind
from memlens.errors import AddressError, FormatError
from memlens.sources.minidump.dumpfile import MinidumpFile
from memlens.sources.minidump.linux import LinuxDsoDebug, LinuxMaps
from memlens.sources.minidump.reader import MinidumpSnapshot, load
from memlens.sources.minidump.streams import MemoryInfoList, ThreadList
from memlens.sources.options import OpenOptions

Section = tuple[tuple[str, ...], list[tuple[str, str]]]


def parse_dump_text(text: str) -> list[Section]:
    """minidump_dump output -> blocks of (title lines, [(key, value)]); data lines keyed '#data'."""
    sections: list[Section] = []
    for chunk in text.split("\n\n"):
        title: list[str] = []
        fields: list[tuple[str, str]] = []
        for line in chunk.splitlines():
            m = re.match(r"^  (\S.*?)\s+= (.*)$", line)
            if m:
                fields.append((m.group(1), m.group(2)))
            elif line.startswith("0x") and not line.startswith("0x "):
                fields.append(("#data", line))
            elif line.startswith("  "):
                fields.append(("#text", line.strip()))
            else:
                title.append(line)
        if title or fields:
            sections.append((tuple(title), fields))
    return sections


def run_cli(*argv: str) -> tuple[int, str, str]:
    exe = Path(sys.executable).parent / "memlens"
    proc = subprocess.run([str(exe), *argv], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def md(fixtures_dir: Path) -> Path:
    return fixtures_dir / "minidump"


def test_minidump2_every_field_equals_minidump_dump(
    md: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["minidump", str(md / "minidump2.dmp")]) == 0
    ours = parse_dump_text(capsys.readouterr().out)
    oracle = parse_dump_text((md / "minidump2.dump.out").read_text())
    assert len(ours) == len(oracle) == 41  # header, 9 entries, map, 2x3 thread, 14 module, ...
    for mine, theirs in zip(ours, oracle, strict=True):
        assert mine == theirs


def test_minidump2_memory_reads_match_minidump_dump(md: Path) -> None:
    oracle = parse_dump_text((md / "minidump2.dump.out").read_text())
    regions = [dict(f) for t, f in oracle if t and t[0].startswith("region[")]
    assert len(regions) == 3
    with memlens.open(str(md / "minidump2.dmp")) as snap:
        assert isinstance(snap, MinidumpSnapshot)
        for r in regions:
            start = int(r["start_of_memory_range"], 16)
            size = int(r["memory.data_size"], 16)
            assert snap.space.read(start, size) == bytes.fromhex(r["#data"][2:])
        # ...and nothing around them is invented
        with pytest.raises(AddressError):
            snap.space.read(0x7C90EB14 - 1, 2)


def test_minidump2_snapshot(md: Path) -> None:
    with memlens.open(str(md / "minidump2.dmp")) as snap:
        assert snap.format == "minidump"
        assert snap.arch is not None
        assert (snap.arch.name, snap.arch.word_size) == ("i386", 4)
        assert snap.pid == 3932
        assert [t.tid for t in snap.threads] == [0xBF4, 0x11C0]
        crashed = snap.threads[0]
        assert crashed.crashed and not snap.threads[1].crashed
        # the exception's context, not the thread list's
        assert crashed.pc == 0x40429E and crashed.sp == 0x12FE84
        assert snap.threads[1].registers["eip"] == 0x7C90EB94
        assert snap.crash is not None
        assert (snap.crash.code, snap.crash.address) == (0xC0000005, 0x45)
        assert snap.crash.description == "EXCEPTION_ACCESS_VIOLATION_WRITE"
        assert len(snap.modules) == 13
        assert snap.modules[0].path == "c:\\test_app.exe"
        assert (snap.modules[0].base, snap.modules[0].end) == (0x400000, 0x42D000)
        assert snap.modules[0].debug_id == "5A9832E5287241C1838ED98914E9B7FF1"
        # no MemoryInfoList, no maps: the regions are the saved ranges, in address order
        assert [(r.start, r.end) for r in snap.regions] == [
            (0x12F31C, 0x130000), (0x97F6E8, 0x980000), (0x7C90EB14, 0x7C90EC14)]
        names = {r.start: (r.name, r.kind) for r in snap.regions}
        assert names[0x12F31C] == ("[stack:3060]", RegionKind.STACK)
        assert names[0x7C90EB14] == ("C:\\WINDOWS\\system32\\ntdll.dll", RegionKind.FILE)
        assert snap.extra["csd_version"] == "Service Pack 2"
        assert snap.warnings == []


def test_regions_memlist64_exact_boundaries(md: Path) -> None:
    with memlens.open(str(md / "regions-memlist64.dmp")) as snap:
        assert [(r.start, r.end) for r in snap.regions] == [(0x1000, 0x1010), (0x2000, 0x2020)]
        assert [(s, e) for s, e, _ in snap.space.saved_ranges()] == [(0x1000, 0x1010),
                                                                      (0x2000, 0x2020)]
        assert snap.space.read(0x1000, 16) == b"1" * 16
        assert snap.space.read(0x2000, 32) == b"3" * 32
        for addr in (0x0, 0xFFF, 0x1010, 0x1FFF, 0x2020, 0xFFFFFFFF):
            assert not snap.space.is_readable(addr)
            with pytest.raises(AddressError, match="unmapped"):
                snap.space.read(addr, 1)


def test_linux_inline_bpel_debug_id(md: Path) -> None:
    with memlens.open(str(md / "linux_inline.dmp")) as snap:
        main_module = snap.modules[0]
        assert main_module.path.endswith("/linux_inline")
        assert main_module.build_id == bytes.fromhex("10faa6bbaab83db3")
        assert main_module.debug_id == "BBA6FA10B8AAB33D00000000000000000"
        assert snap.crash is not None and snap.crash.signal == 4  # SIGILL
        assert "crashpad_report_id" in snap.extra


def test_tiny_exe_xsave_context_and_memory_info(md: Path) -> None:
    dump = MinidumpFile(str(md / "tiny-exe-with-cet-xsave.dmp"))
    try:
        threads = dump.stream(ThreadList)
        assert threads is not None
        (thread,) = threads.threads
        assert thread.context is not None
        assert thread.context.kind.cpu == "amd64"
        size = thread.raw["thread_context.data_size"]
        assert size > 1232 and thread.context.extra_bytes == size - 1232
        infos = dump.stream(MemoryInfoList)
        assert infos is not None and len(infos.infos) == 557
        not_free = [r for r in infos.infos if r["state"] != 0x10000]
    finally:
        dump.close()
    with memlens.open(str(md / "tiny-exe-with-cet-xsave.dmp")) as snap:
        assert len(list(snap.space.saved_ranges())) == 65
        assert snap.threads[0].registers["rsp"] == thread.context.registers["rsp"]
        assert snap.warnings == []
        # regions: every MemoryInfoList entry that is not MEM_FREE, named by modules/stacks
        assert [(r.start, r.end) for r in snap.regions] == [
            (i["base_address"], i["base_address"] + i["region_size"]) for i in not_free]
        exe = snap.modules[0]
        head = snap.space.region_at(exe.base)
        assert head is not None and (head.name, head.kind, str(head.perms)) == (
            "C:\\src\\crashpad\\tiny.exe", RegionKind.FILE, "r--p")
        sp = snap.threads[0].sp
        assert sp is not None
        stack = snap.space.region_at(sp)
        assert stack is not None and stack.name == f"[stack:{thread.tid}]"


def test_linux_raise_sigabrt_against_its_own_maps(md: Path) -> None:
    path = str(md / "linux_raise_sigabrt.dmp")
    dump = MinidumpFile(path)
    maps_stream = dump.stream(LinuxMaps)
    assert maps_stream is not None
    lines = [ln for ln in maps_stream.text.splitlines() if ln.strip()]
    with load(path, OpenOptions()) as snap:
        assert len(snap.regions) == len(lines) == 35
        for region, line in zip(snap.regions, lines, strict=True):
            lo, hi = line.split()[0].split("-")
            assert (region.start, region.end) == (int(lo, 16), int(hi, 16))
        # every module starts at a file mapping of the same path in the maps
        for module in snap.modules:
            (hit,) = [r for r in snap.regions if r.start == module.base]
            if module.path.startswith("/"):
                assert hit.path == module.path
                assert module.end <= max(r.end for r in snap.regions if r.path == module.path)
            else:  # linux-gate.so is the kernel's [vdso]
                assert (module.path, hit.kind, hit.end) == ("linux-gate.so", RegionKind.VDSO,
                                                            module.end)
        assert snap.command_line == "./driver"
        assert snap.pid == 23526
        assert snap.crash is not None and snap.crash.signal == 6
        assert snap.extra["os_release"] == "Ubuntu 14.04 LTS"
        # the DSO debug link maps (natural alignment) agree with the module list
        dso = snap.dump.stream(LinuxDsoDebug)
        assert dso is not None and dso.raw["dso_count"] == len(dso.link_maps) == 8
        bases = {m.base for m in snap.modules}
        named = [lm for lm in dso.link_maps if lm.name.startswith("/lib")]
        assert named and all(lm.raw["addr"] in bases for lm in named)
        assert named[0].name == "/lib/x86_64-linux-gnu/libpthread.so.0"
        # the crashed thread's saved stack lies inside one mapping of the maps
        (thread,) = snap.threads
        assert thread.sp is not None and snap.space.is_readable(thread.sp, 8)
        stack = snap.space.region_at(thread.sp)
        assert stack is not None and (stack.start, stack.end) == (0x7FFCDB5C5000, 0x7FFCDB5E7000)
        assert thread.stack_start is not None and thread.stack_end is not None
        assert stack.start <= thread.stack_start < thread.stack_end <= stack.end
        # a mapping the dump holds no bytes for is mapped but not saved
        with pytest.raises(AddressError, match="not saved"):
            snap.space.read(snap.modules[0].base, 1)
    dump.close()


@pytest.mark.parametrize("name", ["invalid-range.dmp", "invalid-record-count.dmp"])
def test_fuzzed_files_read_partially_with_clear_warnings(md: Path, name: str) -> None:
    with memlens.open(str(md / name)) as snap:
        assert snap.warnings
        assert all("\n" not in w for w in snap.warnings)
        assert any("extend past the end of the file" in w for w in snap.warnings)
    code, _out, err = run_cli("minidump", str(md / name))
    assert code == 0
    assert "Traceback" not in err
    printed = [ln.removeprefix("memlens: warning: ") for ln in err.splitlines()]
    assert printed and set(printed) <= set(snap.warnings)


def test_every_fixture_opens_by_content_and_maps_works(md: Path, tmp_path: Path) -> None:
    for path in sorted(md.glob("*.dmp")):
        renamed = tmp_path / "no-extension"
        renamed.write_bytes(path.read_bytes())
        with memlens.open(str(renamed)) as snap:
            assert snap.format == "minidump"
        code, out, err = run_cli("maps", str(renamed), "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert len(doc["regions"]) == len(snap.regions)
        assert "Traceback" not in err


def test_forced_format_and_refusal(md: Path, tmp_path: Path) -> None:
    snap = load(str(md / "minidump2.dmp"), OpenOptions(format="minidump"))
    assert snap.pid == 3932
    not_dump = tmp_path / "x.dmp"
    not_dump.write_bytes(b"ELF" + bytes(100))
    with pytest.raises(FormatError, match="not a minidump"):
        memlens.open(str(not_dump), OpenOptions(format="minidump"))
    code, _out, err = run_cli("minidump", str(not_dump))
    assert code == 1 and err.count("\n") == 1 and "not a minidump" in err


def test_stream_filter_and_json(md: Path) -> None:
    code, out, _ = run_cli("minidump", str(md / "minidump2.dmp"), "--stream", "exception")
    assert code == 0
    blocks = parse_dump_text(out)
    assert [t for t, _ in blocks] == [("MDException",), ("MDRawContextX86",)]
    code, out, _ = run_cli("minidump", str(md / "linux_raise_sigabrt.dmp"), "--stream",
                           "MD_LINUX_CMD_LINE", "--json")  # fmt: skip
    doc = json.loads(out)
    assert doc["schema_version"] == 1 and doc["kind"] == "minidump"
    assert doc["blocks"][0]["fields"] == [[None, "./driver\u0000"]]
    code, _, err = run_cli("minidump", str(md / "minidump2.dmp"), "--stream", "nonsense")
    assert code == 2 and "unknown stream" in err


def test_raised_signal_names_its_sender(fixtures_dir: Path) -> None:
    # raise(SIGABRT): si_addr holds the sender's pid/uid, not a fault address.  The crash
    # address is still the exception_address the dump holds (what minidump_stackwalk
    # prints, and what `minidump --stream exception` shows); the sender is decoded.
    with memlens.open(str(fixtures_dir / "minidump" / "linux_raise_sigabrt.dmp")) as snap:
        assert snap.crash is not None
        assert (snap.crash.signal, snap.crash.address, snap.crash.description) == (
            6, 0x4D14400005BE6, "SIGABRT")
        # the process raised it itself: the sender is its own (crashed) thread
        assert snap.crash.sender_pid == 0x5BE6 == snap.crash.thread_id
        assert snap.crash.sender_uid == 0x4D144
    # A Windows access violation keeps its data address.
    with memlens.open(str(fixtures_dir / "minidump" / "minidump2.dmp")) as snap:
        assert snap.crash is not None and snap.crash.address == 0x45

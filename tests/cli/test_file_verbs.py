"""info, maps, read and find on snapshot files and on a PID, through the CLI."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from memlens.cli.main import main
from tests.conftest import compile_c

CORE64 = "elfcore/core_linux64.elf"
CORE32 = "elfcore/core_linux32.elf"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_info_json_core(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, "info", str(fixtures_dir / CORE64))
    assert doc["schema_version"] == 1 and doc["kind"] == "info"
    assert (doc["format"], doc["pid"], doc["command_line"]) == (
        "elfcore", 23395, "./coredump_self foo bar 42")  # fmt: skip
    assert doc["arch"] == {"name": "x86_64", "word_size": 8, "byteorder": "little"}
    # tgkill from the process itself: NT_SIGINFO's si_pid / si_uid (readelf: pid 23395, uid 1000)
    assert doc["crash"] == {"thread_id": 23395, "signal": 6, "code": -6, "address": None,
                            "description": "SIGABRT (SI_TKILL)", "os": "linux",
                            "parameters": [], "sender_pid": 23395, "sender_uid": 1000}  # fmt: skip
    assert [t["tid"] for t in doc["threads"]] == [23395]
    assert doc["threads"][0]["crashed"] is True
    assert [(m["path"].rsplit("/", 1)[-1], m["base"], m["size"]) for m in doc["modules"]] == [
        ("coredump_self", 0x400000, 0x202000), ("libc-2.23.so", 0x7FA4593AE000, 0x3C5000),
        ("ld-2.23.so", 0x7FA459777000, 0x227000),
        # the vdso from AT_SYSINFO_EHDR (eu-unstrip -n --core lists it too)
        ("linux-vdso.so.1", 0x7FFE2E5FA000, 0x1000)]  # fmt: skip
    regions = doc["regions"]
    assert regions["count"] == 18
    assert regions["mapped_bytes"] == regions["saved_bytes"] + regions["not_saved_bytes"]
    assert doc["extra"]["prpsinfo"]["psargs"] == "./coredump_self foo bar 42"
    assert doc["extra"]["auxv"]["6"] == 4096


def test_info_text_memdump(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(fixtures_dir / "memdump/android_init.memdump")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "format       memdump" in lines
    assert ("regions      9 regions, 680K mapped, 0 saved, 680K not saved, 133 pages resident "
            "(532K)") in lines  # fmt: skip


def test_maps_saved_and_not_saved(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, "maps", str(fixtures_dir / CORE64))
    libc_text = next(r for r in doc["regions"] if r["start"] == 0x7FA4593AE000)
    assert (libc_text["saved_bytes"], libc_text["not_saved_bytes"]) == (0x1000, 0x1BE000)
    assert all(r["resident_pages"] is None for r in doc["regions"])


def test_read_hex_pad_and_error(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    core = str(fixtures_dir / CORE64)
    assert main(["read", core, "400000", "16"]) == 0
    assert capsys.readouterr().out == (
        "0000000000400000  7f 45 4c 46 02 01 01 00  00 00 00 00 00 00 00 00  |.ELF............|\n"
    )
    assert main(["read", core, "7fa4593aeffc", "8", "--pad"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("00007fa4593aeffc  bf 02 00 00 ?? ?? ?? ?? ") and out.endswith(
        "|....????|\n"
    )
    assert main(["read", core, "7fa4593af000", "8"]) == 1
    assert capsys.readouterr().err == (
        "memlens: error: address 0x7fa4593af000 (8 bytes): not saved\n"
    )
    assert main(["read", core, "7ffe2e5a1fe8", "--as", "str"]) == 0
    assert capsys.readouterr().out == "./coredump_self\n"


def _count_in_loads(path: Path, pattern: bytes) -> int:
    """Independent oracle: pyelftools' PT_LOAD file ranges, searched with bytes.count."""
    with path.open("rb") as f:
        elf = ELFFile(f)
        total = 0
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                data = seg.data()
                total += sum(1 for i in range(len(data)) if data.startswith(pattern, i))
        return total


@pytest.mark.parametrize("name", [CORE64, CORE32])
def test_find_counts_match_an_independent_scan(
    fixtures_dir: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    core = fixtures_dir / name
    for argv, pattern in ((["0x7f454c46"], b"\x7fELF"), (["--string", "coredump"], b"coredump")):
        assert main(["find", str(core), *argv, "--count"]) == 0
        assert int(capsys.readouterr().out) == _count_in_loads(core, pattern) > 0


def test_find_int_uses_word_size(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    core = str(fixtures_dir / CORE32)
    doc = _json(capsys, "find", core, "--int", "0x56624000")  # the program's base, 4 bytes
    hits = [m["address"] for m in doc["matches"]]
    assert hits and all(a % 4 == 0 for a in hits)
    assert doc["pattern"] == "00406256"


def test_verbs_on_a_pid(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        spawn: list[subprocess.Popen[bytes]]) -> None:  # fmt: skip
    exe = compile_c(r"""
        #include <stdio.h>
        #include <unistd.h>
        static char marker[] = "PID-VERB-MARKER";
        int main(void) { printf("%p\n", (void *)marker); fflush(stdout); for (;;) pause(); }
    """, tmp_path / "pidverbs")  # fmt: skip
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE)
    spawn.append(proc)
    assert proc.stdout is not None
    addr = int(proc.stdout.readline(), 16)
    doc = _json(capsys, "find", str(proc.pid), "--string", "PID-VERB-MARKER")
    assert addr in [m["address"] for m in doc["matches"]]
    assert main(["read", str(proc.pid), f"{addr:x}", "--as", "str"]) == 0
    assert capsys.readouterr().out == "PID-VERB-MARKER\n"
    info = _json(capsys, "info", str(proc.pid))
    assert info["format"] == "live" and info["pid"] == proc.pid


def test_info_minidump_through_generic_fields(
    fixtures_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """info needs nothing minidump-specific: values from Breakpad's minidump2.dump.out."""
    oracle = (fixtures_dir / "minidump" / "minidump2.dump.out").read_text()
    bases = [int(b, 16) for b in re.findall(r"base_of_image\s+= (0x[0-9a-f]+)", oracle)]
    tids = [int(t, 16) for t in re.findall(r"^  thread_id\s+= (0x[0-9a-f]+)", oracle, re.M)]
    doc = _json(capsys, "info", str(fixtures_dir / "minidump" / "minidump2.dmp"))
    assert doc["format"] == "minidump" and doc["pid"] == 3932
    assert [m["base"] for m in doc["modules"]] == bases and len(bases) == 13
    assert [t["tid"] for t in doc["threads"]] == tids[:2]
    assert doc["crash"]["thread_id"] == 0xBF4
    assert [t["tid"] for t in doc["threads"] if t["crashed"]] == [0xBF4]
    assert main(["info", str(fixtures_dir / "minidump" / "minidump2.dmp")]) == 0
    text = capsys.readouterr().out
    assert "crash        thread 3060: " in text and "modules (13)" in text

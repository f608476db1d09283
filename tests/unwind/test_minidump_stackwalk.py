"""`memlens stack` on Breakpad's minidump2.dmp equals Breakpad's own minidump_stackwalk.

The oracle files are minidump_stackwalk's text and machine-readable outputs with the
symbol store beside them (STACK WIN program strings, FUNC/line and PUBLIC records).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memlens.cli.main import main


def _stack(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["stack", *argv]) == 0
    return capsys.readouterr().out


def _block(lines: list[str], first: str, stop: str) -> list[str]:
    start = next(i for i, ln in enumerate(lines) if ln.startswith(first))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(stop))
    return lines[start:end]


Capture = pytest.CaptureFixture[str]


def test_crash_and_crashed_thread_as_stackwalk(fixtures_dir: Path, capsys: Capture) -> None:
    md = fixtures_dir / "minidump"
    expected = (md / "minidump2.stackwalk.out").read_text().splitlines()
    got = _stack(capsys, str(md / "minidump2.dmp"), "--symbols", str(md / "symbols"))
    lines = got.splitlines()
    # the header (OS, CPU, crash reason, address, parameters, uptime) and Thread 0: every
    # frame's module!function [file : line + offset], its registers and "Found by"
    assert _block(lines, "Operating", "Thread 1")[:-1] == _block(expected, "Operating",
                                                                  "Loaded")[:-1]  # fmt: skip
    # the modules list, with versions and the main module
    assert lines[lines.index("Loaded modules:"):] == expected[expected.index("Loaded modules:"):]


def test_machine_readable_frames_as_stackwalk(fixtures_dir: Path, capsys: Capture) -> None:
    md = fixtures_dir / "minidump"
    oracle = (md / "minidump2.stackwalk.machine_readable.out").read_text().splitlines()
    doc = json.loads(_stack(capsys, str(md / "minidump2.dmp"), "--symbols",
                            str(md / "symbols"), "--json"))  # fmt: skip
    crash = next(ln for ln in oracle if ln.startswith("Crash|")).split("|")
    assert [doc["crash"]["reason"], f"{doc['crash']['address']:#x}",
            str(doc["crash"]["thread"])] == crash[1:]  # fmt: skip
    frames = [ln.split("|") for ln in oracle if ln[:1].isdigit()]
    thread0 = next(t for t in doc["threads"] if t["index"] == 0)
    got = [[str(thread0["index"]), str(f["frame"]), f["module"] or "", f["function"] or "",
            f["file"] or "", str(f["line"]) if f["line"] is not None else "",
            f"{f['offset']:#x}"] for f in thread0["frames"]]  # fmt: skip
    assert got == frames
    modules = [ln.split("|") for ln in oracle if ln.startswith("Module|")]
    assert [[m["file"], m["version"] or "", m["debug_file"], m["debug_id"],
             f"0x{m['base']:08x}", f"0x{m['end']:08x}", "1" if m["main"] else "0"]
            for m in doc["modules"]] == [m[1:] for m in modules]  # fmt: skip


def test_without_symbols_frames_say_how_they_were_found(fixtures_dir: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        ) -> None:  # fmt: skip
    md = fixtures_dir / "minidump"
    doc = json.loads(_stack(capsys, str(md / "minidump2.dmp"), "--json", "--crashed"))
    (thread,) = doc["threads"]
    frames = thread["frames"]
    assert frames[0]["trust"] == "context" and frames[0]["pc"] == 0x40429E
    # no STACK WIN: the ebp chain still finds main at the same return address as CFI did
    assert frames[1]["pc"] == 0x404200 and frames[1]["trust"] == "frame_pointer"


def test_info_shows_the_crashed_threads_backtrace(fixtures_dir: Path, capsys: Capture) -> None:
    md = fixtures_dir / "minidump"
    oracle = (md / "minidump2.stackwalk.machine_readable.out").read_text().splitlines()
    assert main(["info", str(md / "minidump2.dmp"), "--symbols", str(md / "symbols"),
                 "--json"]) == 0  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert [f["function"] for f in doc["backtrace"]] == [
        ln.split("|")[3] for ln in oracle if ln.startswith("0|")]

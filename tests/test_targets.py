"""The reader registry: every format, memlens's own heap snapshots and mem_info text included,
opens through one ``open_target`` and shows in ``memlens info``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.errors import FormatError, UsageError
from memlens.targets import READERS, format_names, open_target, probe_file, reader_named
from tests.mpy.test_meminfo_text import OLD

# a v1.19-style print of two heap areas (tests/mpy/test_meminfo_text.py)
MEMINFO = OLD


def _info_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["info", "--json", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert isinstance(doc, dict)
    return doc


def test_reader_names_are_unique_and_raw_is_never_probed() -> None:
    names = [r.name for r in READERS]
    assert len(names) == len(set(names))
    assert format_names() == ["live", *names]
    assert [r.name for r in READERS if r.on_request_only] == ["raw"]
    with pytest.raises(UsageError, match="unknown format 'nope'"):
        reader_named("nope")


def test_meminfo_text_opens_as_a_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "meminfo.txt"
    path.write_text(MEMINFO)
    found = probe_file(str(path))
    assert found is not None and found.name == "meminfo"
    doc = _info_json(path, capsys)
    assert doc["format"] == "meminfo"
    # two areas of 256 and 128 blocks of 16 bytes (offset 0x400 on line 2 = 64 blocks)
    size = (256 + 128) * 16
    assert doc["regions"] == {"count": 2, "mapped_bytes": size, "saved_bytes": 0,
                              "not_saved_bytes": size, "resident_pages": None}  # fmt: skip
    extra = doc["extra"]
    assert isinstance(extra, dict)
    assert (extra["gc total"], extra["gc used"], extra["gc free"]) == (6144, 224, 5920)
    assert extra["block size"] == 16 and extra["stack used"] == 880


def test_mlheap_opens_as_a_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--top", "1"]) == 0  # the built-in demo
    capsys.readouterr()
    files = sorted(out.glob("*-exit.mlheap"))
    assert len(files) == 1
    from memlens.heap.profile_file import read

    profile = read(str(files[0]))
    doc = _info_json(files[0], capsys)
    assert doc["format"] == "mlheap" and doc["pid"] == profile.pid
    extra = doc["extra"]
    assert isinstance(extra, dict)
    assert extra["blocks"] == len(profile.blocks) > 0
    assert extra["bytes"] == int(profile.blocks.size.sum())
    assert len(doc["modules"]) == len(profile.modules) > 0  # type: ignore[arg-type]
    with open_target(str(files[0])) as snap:
        assert snap.format == "mlheap"
        expected = sorted((m.base, m.end, m.path) for m in profile.modules if m.end > m.base)
        assert [(r.start, r.end, r.path) for r in snap.regions] == expected


def test_unknown_file_says_so_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(FormatError, match="not a known snapshot format"):
        open_target(str(path))
    with pytest.raises(FormatError, match="no such file"):
        open_target(str(tmp_path / "missing"))


def test_meminfo_text_with_two_prints_opens_one_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = MEMINFO.replace("GC: total: 6144, used: 224, free: 5920",
                             "GC: total: 6144, used: 240, free: 5904")  # fmt: skip
    path = tmp_path / "two.txt"
    path.write_text("program output\n" + MEMINFO + "more output\n" + second)
    doc = _info_json(path, capsys)
    extra = doc["extra"]
    assert isinstance(extra, dict)
    # the last print by default, and not the two added up
    assert (extra["gc used"], extra["print"]) == (240, "1 of 2 (numbered from 0)")
    assert main(["info", "--json", "--snapshot", "0", str(path)]) == 0
    first = json.loads(capsys.readouterr().out)["extra"]
    assert (first["gc used"], first["print"]) == (224, "0 of 2 (numbered from 0)")

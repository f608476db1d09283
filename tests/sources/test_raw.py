"""Raw dumps: base address, word size and byte order, several snapshots, several pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

import memlens
from memlens.cli.main import main
from memlens.sources import readers


def _opts(**kw: object) -> memlens.OpenOptions:
    return memlens.OpenOptions(format="raw", **kw)  # type: ignore[arg-type]


def test_base_word_and_endian(tmp_path: Path) -> None:
    path = tmp_path / "ram.bin"
    path.write_bytes(bytes.fromhex("3ffb4fa0 00000001 11223344 55667788"))
    with memlens.open(str(path), _opts(base=0x3FFB0000, word_size=4, endian="big")) as snap:
        assert snap.arch == memlens.Arch("unknown", 4, "big")
        assert snap.space.u32(0x3FFB0000) == 0x3FFB4FA0
        assert snap.space.pointer(0x3FFB0004) == 1
        assert snap.space.u64(0x3FFB0008) == 0x1122334455667788
        with pytest.raises(memlens.AddressError, match="unmapped"):
            snap.space.read(0x3FFB000F, 2)
        assert [(r.start, r.end) for r in snap.regions] == [(0x3FFB0000, 0x3FFB0010)]
    with memlens.open(str(path), _opts(base=0)) as snap:  # defaults: 8-byte little-endian
        assert snap.space.word_size == 8 and snap.space.u32(0) == 0xA04FFB3F


def test_snapshots_of_one_range(tmp_path: Path) -> None:
    path = tmp_path / "three.bin"
    path.write_bytes(b"A" * 16 + b"B" * 16 + b"C" * 16 + b"tail")
    for which, byte in ((0, b"A"), (1, b"B"), ("last", b"C"), (None, b"C")):
        with memlens.open(str(path), _opts(base=0x100, snapshot_size=16, snapshot=which)) as snap:
            assert snap.space.read(0x100, 16) == byte * 16
            assert snap.extra["snapshots"] == 3
            assert snap.space.region_at(0x110) is None
    with pytest.raises(memlens.UsageError, match=r"holds snapshots 0\.\.2"):
        memlens.open(str(path), _opts(base=0, snapshot_size=16, snapshot=3))
    with pytest.raises(memlens.FormatError, match="smaller than one snapshot"):
        memlens.open(str(path), _opts(base=0, snapshot_size=1000))
    with pytest.raises(memlens.UsageError, match="--snapshot needs --snapshot-size"):
        memlens.open(str(path), _opts(base=0, snapshot=1))


def test_pieces_combine_and_must_not_overlap(tmp_path: Path) -> None:
    a, b = tmp_path / "iram.bin", tmp_path / "dram.bin"
    a.write_bytes(b"\x01" * 32)
    b.write_bytes(b"\x02" * 32)
    opts = _opts(pieces=((0x4000, str(a)), (0x8000, str(b))))
    with memlens.open(str(a), opts) as snap:
        assert snap.space.read(0x4000, 2) + snap.space.read(0x801E, 2) == b"\x01\x01\x02\x02"
        assert [r.name for r in snap.regions] == ["iram.bin", "dram.bin"]
        with pytest.raises(memlens.AddressError, match="unmapped"):
            snap.space.read(0x4020, 1)
    with pytest.raises(memlens.UsageError, match="overlap"):
        memlens.open(str(a), _opts(pieces=((0x4000, str(a)), (0x4010, str(b)))))


def test_needs_base_and_is_never_probed(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x7fELF" + b"\0" * 60)
    assert not readers.RAW.probe(path.read_bytes()) and readers.RAW.on_request_only
    with pytest.raises(memlens.UsageError, match="needs --base"):
        memlens.open(str(path), _opts())
    with pytest.raises(memlens.FormatError, match="missing: No such file or directory"):
        memlens.open(str(tmp_path / "missing"), _opts(base=0))


def test_cli_reads_raw_with_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ram.bin"
    path.write_bytes(bytes(range(32)))
    assert main(["read", str(path), "--base", "20000000", "--word-size", "4", "20000010",
                 "8", "--as", "u32"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "20000010  13121110 17161514\n"

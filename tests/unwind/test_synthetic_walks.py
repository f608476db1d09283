"""Walks over dumps written by the independent minidump writer: Breakpad STACK CFI
rules, a frame-pointer loop, a stack full of return addresses (the walk stays bounded)."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pytest

from memlens.cli.main import main

from ..sources.minidump.synth import Synth

BUILD_ID = bytes(range(1, 21))
DEBUG_ID = "04030201" "0605" "0807" "090A0B0C0D0E0F10" "0"  # the build id as a LE GUID, age 0
SYM = """MODULE Linux x86_64 {id} prog
FILE 0 prog.c
FUNC 1000 100 0 inner
1000 100 3 0
FUNC 1100 100 0 outer
1100 100 9 0
STACK CFI INIT 1000 100 .cfa: $rsp 16 + .ra: .cfa -8 + ^ $rbx: .cfa -16 + ^
STACK CFI INIT 1100 100 .cfa: $rsp 32 + .ra: .cfa -8 + ^
"""


Capture = pytest.CaptureFixture[str]


def _dump(tmp_path: Path, stack: bytes, rip: int, rsp: int, rbp: int = 0) -> Path:
    s = Synth("<")
    s.system_info(arch=9, platform=0x8201)
    ctx = bytearray(s.amd64_context(rip, rsp))
    ctx[160:168] = struct.pack("<Q", rbp)  # rbp follows rsp in CONTEXT_AMD64
    s.thread_list([(5, rsp, stack, bytes(ctx))])
    s.module_list([(0x400000, 0x10000, "/bin/prog", s.cv_bpel(BUILD_ID))])
    s.exception(5, 11, 0x10, bytes(ctx), flags=1)
    path = tmp_path / "walk.dmp"
    path.write_bytes(s.build())
    return path


def _frames(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    assert main(["stack", *argv, "--json"]) == 0
    (thread,) = json.loads(capsys.readouterr().out)["threads"]
    frames: list[dict[str, object]] = thread["frames"]
    return frames


def test_breakpad_stack_cfi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store" / "prog" / DEBUG_ID
    store.mkdir(parents=True)
    (store / "prog.sym").write_text(SYM.format(id=DEBUG_ID))
    # rsp+0: inner saved rbx; rsp+8: return into outer; rsp+40: outer's return (0: the end)
    words = [0x1234, 0x401120, 0, 0, 0, 0]
    path = _dump(tmp_path, struct.pack("<6Q", *words), 0x401010, 0x7FF000)
    frames = _frames(capsys, str(path), "--symbols", str(tmp_path / "store"))
    assert [(f["pc"], f["function"], f["trust"]) for f in frames] == [
        (0x401010, "inner", "context"), (0x401120, "outer", "cfi")]
    caller = frames[1]["registers"]
    assert isinstance(caller, dict)
    assert (caller["rsp"], caller["rbx"]) == (0x7FF010, 0x1234)
    assert (frames[0]["line"], frames[1]["line"]) == (3, 9)


def test_frame_pointer_loop_ends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # [rbp] = rbp itself: one frame-pointer step, then no way on
    stack = struct.pack("<QQ", 0x7FF000, 0x401120) + bytes(48)
    frames = _frames(capsys, str(_dump(tmp_path, stack, 0x401010, 0x7FF000, rbp=0x7FF000)))
    assert [(f["pc"], f["trust"]) for f in frames] == [(0x401010, "context"),
                                                       (0x401120, "frame_pointer")]


def test_stack_of_return_addresses_is_bounded(tmp_path: Path, capsys: Capture) -> None:
    stack = struct.pack("<Q", 0x401120) * 512  # 4 KiB of the same return address
    frames = _frames(capsys, str(_dump(tmp_path, stack, 0x401010, 0x7FF000)))
    sps = [f["sp"] for f in frames]
    assert all(isinstance(a, int) and isinstance(b, int) and b > a
               for a, b in itertools.pairwise(sps))  # fmt: skip
    assert 1 < len(frames) <= 513 and {f["trust"] for f in frames[1:]} == {"scan"}


FPO_SYM = """MODULE windows x86 {id} test.pdb
FUNC 1000 100 8 fpo_func
FUNC 2000 100 0 caller
STACK WIN 0 1000 100 0 0 8 0 4 0 0 0
"""
FPO_ID = "11223344" "5566" "7788" "99AABBCCDDEEFF00" "1"


@pytest.mark.parametrize("aligned", [False, True])
def test_fpo_record_without_program_string(tmp_path: Path, capsys: Capture,
                                           aligned: bool) -> None:  # fmt: skip
    """An FPO record (STACK WIN type 0, no program string): the return address is at
    esp + locals (4) -- or the next word, when the stack was aligned (Breakpad scans up
    to three words from .raSearchStart)."""
    store = tmp_path / "store" / "test.pdb" / FPO_ID
    store.mkdir(parents=True)
    (store / "test.sym").write_text(FPO_SYM.format(id=FPO_ID))
    s = Synth("<")
    s.system_info(arch=0, platform=2)
    ctx = s.x86_context(0x401010, 0x12F000)
    slots = [0, 0xDEAD, 0x402020, 0] if aligned else [0, 0x402020, 0, 0]
    s.thread_list([(7, 0x12F000, struct.pack("<4I", *slots), ctx)])
    s.module_list([(0x400000, 0x10000, "C:\\test.exe",
                    s.cv_rsds(0x11223344, 0x5566, 0x7788, bytes.fromhex("99aabbccddeeff00"), 1,
                              "C:\\test.pdb"))])  # fmt: skip
    s.exception(7, 0xC0000005, 0x401010, ctx, params=(0, 0))
    path = tmp_path / "fpo.dmp"
    path.write_bytes(s.build())
    frames = _frames(capsys, str(path), "--symbols", str(tmp_path / "store"), "--no-scan")
    assert [(f["pc"], f["function"], f["trust"]) for f in frames] == [
        (0x401010, "fpo_func", "context"), (0x402020, "caller", "cfi")]
    assert frames[1]["sp"] == (0x12F00C if aligned else 0x12F008)

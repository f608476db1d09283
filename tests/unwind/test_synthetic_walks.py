"""Walks over dumps written by the independent minidump writer: Breakpad STACK CFI
rules, a frame-pointer loop, a stack full of return addresses (the walk stays bounded)."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pytest

from memlens.cli.main import main

from ..minidump.synth import Synth

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

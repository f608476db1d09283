"""The DWARF CFI rows memlens computes equal pyelftools' decoded CFI tables.

pyelftools decodes every FDE of a section into a table of rows (pc, CFA rule, one rule
per register) with its own parser; memlens runs the same CIE/FDE instructions up to
each row's pc.  Inputs: the .eh_frame of the C library this machine runs (PLT-style
expression rules, remember/restore state, signal frames) and of elfutils' static
aarch64 test program (its .debug_frame-style code alignment 4).
"""

from __future__ import annotations

import bz2
import ctypes.util
import os
from pathlib import Path

import pytest
from elftools.dwarf.callframe import FDE
from elftools.elf.elffile import ELFFile

from memlens.unwind.dwarf_cfi import CfiTable

LIMIT = 400  # FDEs compared per file


def _libc() -> str:
    name = ctypes.util.find_library("c") or "libc.so.6"
    for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib"):
        path = os.path.join(d, name)
        if os.path.isfile(path):
            return os.path.realpath(path)
    pytest.skip("no C library found")


def _rule(rule: object) -> tuple[object, ...]:
    kind = getattr(rule, "type")  # noqa: B009 -- pyelftools' RegisterRule
    arg = getattr(rule, "arg")  # noqa: B009
    names = {"OFFSET": "offset", "VAL_OFFSET": "val_offset", "REGISTER": "register",
             "EXPRESSION": "expression", "VAL_EXPRESSION": "val_expression",
             "UNDEFINED": "undefined", "SAME_VALUE": "same"}  # fmt: skip
    if kind in ("EXPRESSION", "VAL_EXPRESSION"):
        return (names[kind], bytes(arg))
    if kind in ("UNDEFINED", "SAME_VALUE"):
        return (names[kind],)
    return (names[kind], arg)


def compare(path: Path) -> int:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sec = elf.get_section_by_name(".eh_frame")
        assert sec is not None
        data = sec.data()
        table = CfiTable(data, sec["sh_addr"], elf.elfclass // 8,
                         "<" if elf.little_endian else ">", True)  # fmt: skip
        checked = 0
        entries = [e for e in elf.get_dwarf_info().EH_CFI_entries() if isinstance(e, FDE)]
        for fde in entries[:LIMIT]:
            for row in fde.get_decoded().table:
                mine = table.row(row["pc"])
                assert mine is not None, hex(row["pc"])
                cfa = row["cfa"]
                if cfa.expr is not None:
                    assert mine.cfa_expression == bytes(cfa.expr), hex(row["pc"])
                else:
                    assert (mine.cfa_register, mine.cfa_offset) == (cfa.reg, cfa.offset), \
                        hex(row["pc"])
                theirs = {k: _rule(v) for k, v in row.items() if isinstance(k, int)}
                assert mine.rules == theirs, hex(row["pc"])
                checked += 1
        return checked


def test_libc_eh_frame_rows_equal_pyelftools() -> None:
    assert compare(Path(_libc())) > 1000


def test_aarch64_eh_frame_rows_equal_pyelftools(fixtures_dir: Path, tmp_path: Path) -> None:
    exe = tmp_path / "backtrace.aarch64.exec"
    exe.write_bytes(bz2.decompress((fixtures_dir / "elfcore" / "multiarch" /
                                    "backtrace.aarch64.exec.bz2").read_bytes()))  # fmt: skip
    assert compare(exe) > 500

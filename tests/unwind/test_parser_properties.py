"""Hostile input for the unwind parsers: only their own errors escape, nothing hangs.

Real data mutated (bit flips, truncations, spliced lines): a compiled program's
``.eh_frame``, the Breakpad ``.sym`` fixtures; random programs for the two expression
languages.  ``benchmarks/fuzz_crash_parsers.py`` runs the same properties at scale (counts in
BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.errors import FormatError
from memlens.symbols.breakpad_sym import BreakpadSymbols
from memlens.symbols.elffile import ElfFile
from memlens.unwind.dwarf_cfi import CfiError, CfiTable
from memlens.unwind.expr import ExprError, dwarf_expr, postfix

from ..conftest import compile_c

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.fixture(scope="module")
def eh_frame(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    exe = compile_c("int f(int x){return x*3;}\nint main(void){return f(2);}\n",
                    tmp_path_factory.mktemp("cfi") / "prog", "-O1")  # fmt: skip
    with ElfFile(str(exe)) as elf:
        sec = elf.section(".eh_frame")
        assert sec is not None
        return bytes(elf.section_data(sec)), sec.addr


def exercise_cfi(data: bytes, addr: int, pcs: list[int]) -> None:
    try:
        table = CfiTable(data, addr, 8, "<", True, "fuzz")
    except FormatError:
        return
    for pc in pcs:
        with contextlib.suppress(CfiError):
            table.row(pc)


@SETTINGS
@given(flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 7)), max_size=8),
       cut=st.integers(0, 1 << 16), pcs=st.lists(st.integers(0, 1 << 24), max_size=8))
def test_eh_frame_mutations(eh_frame: tuple[bytes, int], flips: list[tuple[int, int]],
                            cut: int, pcs: list[int]) -> None:  # fmt: skip
    data, addr = eh_frame
    raw = bytearray(data[: cut % (len(data) + 1)])
    for at, bit in flips:
        if raw:
            raw[at % len(raw)] ^= 1 << bit
    exercise_cfi(bytes(raw), addr, [*pcs, addr + 4096, 4198400])


def test_real_eh_frame_covers_main(eh_frame: tuple[bytes, int]) -> None:
    data, addr = eh_frame
    table = CfiTable(data, addr, 8, "<", True)
    assert len(table) >= 2 and table.bad == 0


@SETTINGS
@given(lines=st.lists(st.integers(0, 10_000), max_size=30),
       junk=st.lists(st.text(max_size=40), max_size=5),
       addrs=st.lists(st.integers(0, 1 << 20), max_size=10))
def test_sym_mutations(fixtures_dir: Path, lines: list[int], junk: list[str],
                       addrs: list[int]) -> None:  # fmt: skip
    path = next((fixtures_dir / "minidump" / "symbols" / "kernel32.pdb").rglob("*.sym"))
    source = path.read_text().splitlines()
    picked = [source[0]] + [source[i % len(source)] for i in lines] + junk
    syms = BreakpadSymbols("fuzz.sym", "\n".join(picked))
    for a in addrs:
        syms.locate(a)
        syms.stack_win(a)
        syms.stack_cfi(a)


@SETTINGS
@given(lines=st.lists(st.integers(0, 10_000), max_size=40),
       addrs=st.lists(st.integers(0, 1 << 20), max_size=40))
def test_sym_batch_lookup_is_locate(fixtures_dir: Path, lines: list[int],
                                    addrs: list[int]) -> None:  # fmt: skip
    """The numpy batch lookup names each address as the one-address ``locate`` does."""
    path = next((fixtures_dir / "minidump" / "symbols" / "kernel32.pdb").rglob("*.sym"))
    source = path.read_text().splitlines()
    # a PUBLIC at a FUNC's start, one inside it, a size-0 FUNC, a PUBLIC alone
    made = ["FUNC 7f000 20 0 f", "PUBLIC 7f000 0 f_public", "PUBLIC 7f010 0 inside",
            "FUNC 7f100 0 0 empty", "PUBLIC 7f200 0 lone"]  # fmt: skip
    syms = BreakpadSymbols("pick.sym", "\n".join([source[0]] + made +
                                                 [source[i % len(source)] for i in lines]))
    near = [f.address + d for f in syms.functions for d in (-1, 0, max(f.size, 1))]
    near += [p[0] + d for p in syms.publics for d in (-1, 0, 1)]
    every = [a for a in addrs + near if a >= 0]
    pos, off = syms.lookup(np.array(every, np.uint64))
    names = syms.names_at(pos[pos >= 0])
    got = iter(names)
    for a, p, o in zip(every, pos.tolist(), off.tolist(), strict=True):
        where = syms.locate(a)
        if where.function is None:
            assert p == -1, hex(a)
        else:
            assert (next(got), o) == (where.function, a - where.function_base), hex(a)


TOKENS = ["$eip", "$esp", "$ebp", ".cfa", "$T0", ".raSearchStart", "+", "-", "*", "/", "%",
          "@", "^", "=", "0", "4", "-8", "0x10", "junk!"]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.booleans())
def test_postfix_only_expr_errors(tokens: list[str], assign: bool) -> None:
    variables = {"$eip": 0x401000, "$esp": 0x12FF00, "$ebp": 0x12FF40, ".cfa": 0x12FF48,
                 ".raSearchStart": 0x12FF10}  # fmt: skip
    with contextlib.suppress(ExprError):
        postfix(" ".join(tokens), variables, lambda a: a & 0xFFFF if a % 4 == 0 else None,
                0xFFFFFFFF, assign=assign)  # fmt: skip


@SETTINGS
@given(st.binary(max_size=64), st.none() | st.integers(0, 1 << 64))
def test_dwarf_expr_only_expr_errors(code: bytes, initial: int | None) -> None:
    with contextlib.suppress(ExprError):
        dwarf_expr(code, lambda n: 0x1000 * n if n < 17 else None,
                   lambda a: a // 2 if a % 8 == 0 else None, 8, "<", initial)  # fmt: skip

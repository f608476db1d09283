"""nm text, GNU ld maps and ELF symbol tables: against nm itself, and under fuzzing."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.errors import MemlensError
from memlens.symbols.elfsyms import symbols_of
from memlens.symbols.ldmap import load_map, parse_map_lines
from memlens.symbols.nmtext import load_nm, parse_nm_lines
from tests.conftest import compile_c, need_tool

FW = """
struct ctx { int a[40]; } mp_state_ctx;
int table[7] = {1};
int helper(int x) { return x * table[1]; }
int main(void) { return helper(mp_state_ctx.a[2]); }
"""


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("fw")
    exe = compile_c(FW, d / "fw", "-O1", "-ffunction-sections", "-fdata-sections",
                    f"-Wl,-Map={d / 'fw.map'}", "-Wl,--defsym=_srelocate=0x1234")  # fmt: skip
    return exe, d / "fw.map"


def _nm(exe: Path, *flags: str) -> str:
    need_tool("nm")
    return subprocess.run(["nm", *flags, str(exe)], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


@pytest.mark.parametrize("flags", [(), ("-S",), ("-C",), ("-P",), ("-P", "-S"), ("-f", "bsd")])
def test_nm_formats_agree_with_elf_symtab(firmware: tuple[Path, Path], flags: tuple[str, ...],
                                          tmp_path: Path) -> None:  # fmt: skip
    exe, _ = firmware
    f = tmp_path / "out.nm"
    f.write_text(_nm(exe, *flags))
    table = load_nm(str(f))
    elf = symbols_of(str(exe))
    for name in ("main", "helper", "mp_state_ctx", "table"):
        sym, ref = table.find(name), elf.find(name)
        assert sym is not None and ref is not None
        assert sym.address == ref.address
        if "-S" in flags or "-P" in flags:
            assert sym.size == ref.size
    assert table.address_of("_srelocate") == 0x1234


def test_ld_map_symbols_match_nm(firmware: tuple[Path, Path]) -> None:
    exe, map_file = firmware
    m = load_map(str(map_file))
    sized = {line.split()[3]: (int(line.split()[0], 16), int(line.split()[1], 16))
             for line in _nm(exe, "-S").splitlines() if len(line.split()) == 4}  # fmt: skip
    for name in ("main", "helper", "mp_state_ctx", "table"):
        s = m.find(name)
        assert s is not None and (s.address, s.size) == sized[name]
    assert m.address_of("_srelocate") == 0x1234
    srel = m.find("_srelocate")
    assert srel is not None and srel.assigned and srel.size is None
    assert m.table().address_of("mp_state_ctx") == sized["mp_state_ctx"][0]


def test_elf_address_of(firmware: tuple[Path, Path]) -> None:
    exe, _ = firmware
    ref = {line.split()[2]: int(line.split()[0], 16) for line in _nm(exe).splitlines()
           if len(line.split()) == 3}  # fmt: skip
    assert symbols_of(str(exe)).address_of("mp_state_ctx") == ref["mp_state_ctx"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # fmt: skip
@given(data=st.data())
def test_elf_reader_survives_corruption(firmware: tuple[Path, Path], tmp_path: Path,
                                        data: st.DataObject) -> None:  # fmt: skip
    raw = bytearray(firmware[0].read_bytes())
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut]
    for _ in range(data.draw(st.integers(0, 8))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    p = tmp_path / "bad.elf"
    p.write_bytes(bytes(raw))
    try:
        table = symbols_of(str(p))
        table.lookup([0x1000, 0x4040])
        table.address_of("main")
    except MemlensError:
        pass


@given(st.lists(st.text(max_size=80), max_size=30))
def test_text_parsers_raise_only_memlens_errors(lines: list[str]) -> None:
    for parse in (parse_nm_lines, parse_map_lines):
        with contextlib.suppress(MemlensError):
            parse(lines)

"""Symbolization against the reference tools: nm (symbols), llvm-symbolizer (lines, inlines)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from memlens.symbols.chain import symbolizer_for, symbolizer_for_file
from memlens.symbols.elfsyms import symbols_of
from memlens.symbols.frame import Frame
from memlens.targets import open_target
from tests.conftest import need_tool
from tests.symbols.progs import build_generated, functions_of

Chain = list[tuple[str | None, str | None, int | None]]


def _llvm(path: Path, addresses: list[int], inlining: str = "--inlining") -> list[Chain]:
    exe = need_tool("llvm-symbolizer")
    text = subprocess.run(
        [exe, f"--obj={path}", inlining, "--demangle", "--functions=linkage"],
        input="\n".join(hex(a) for a in addresses) + "\n",
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    out: list[Chain] = []
    for block in text.strip("\n").split("\n\n"):
        lines = block.split("\n")
        chain: Chain = []
        for func, loc in zip(lines[0::2], lines[1::2], strict=True):
            file, line, _col = loc.rsplit(":", 2)
            chain.append((None if func == "??" else func, None if file == "??" else file,
                          int(line) or None))  # fmt: skip
        out.append(chain)
    return out


def _ours(frame: Frame) -> Chain:
    return [(f.function, f.file, f.line) for f in (frame, *frame.inlined_by)]


def _addresses(path: Path, step: int = 1) -> list[int]:
    return [a for _n, start, size in functions_of(path) for a in range(start, start + size, step)]


@pytest.mark.parametrize("pie", [True, False], ids=["pie", "nopie"])
def test_lines_and_inlines_match_llvm_symbolizer(build_dir: Path, pie: bool) -> None:
    exe = build_generated(build_dir / f"gen_{'pie' if pie else 'nopie'}",
                          "-fPIE" if pie else "-fno-pie", "-pie" if pie else "-no-pie")
    addresses = _addresses(exe)
    assert len(addresses) >= 1000
    expected = _llvm(exe, addresses)
    frames = symbolizer_for_file(str(exe)).symbolize(addresses)
    agree = sum(_ours(f) == e for f, e in zip(frames, expected, strict=True))
    mismatches = [(hex(a), _ours(f), e) for a, f, e in zip(addresses, frames, expected,
                                                           strict=True) if _ours(f) != e]
    assert agree / len(addresses) >= 0.999, mismatches[:5]
    assert sum(len(f.inlined_by) > 0 for f in frames) >= 100  # inlining is really exercised


def test_symtab_matches_nm(build_dir: Path) -> None:
    exe = build_generated(build_dir / "gen_nm", "-fPIE", "-pie")
    table = symbols_of(str(exe))
    nm = {(name, addr, size) for name, addr, size in functions_of(exe)}
    ours = {(s.name, s.address, s.size) for s in table if s.kind == "function" and s.size}
    assert ours == nm
    # every function's interior resolves to that function by the table alone
    sym = symbolizer_for_file(str(exe), chain=["symtab"])
    for name, addr, size in sorted(nm):
        f1, f2 = sym.symbolize([addr, addr + size - 1])
        assert (f1.function, f1.function_offset) == (name, 0)
        assert (f2.function, f2.function_offset) == (name, size - 1)


def test_live_process_bias_matches_file_symbolization(build_dir: Path, spawn: list) -> None:
    """A PIE in a live process: runtime addresses give the same frames as file addresses."""
    exe = build_generated(build_dir / "gen_live", "-fPIE", "-pie")
    proc = subprocess.Popen([str(exe), "3", "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)  # fmt: skip
    spawn.append(proc)
    assert proc.stdout is not None
    proc.stdout.readline()  # the program is past its start-up
    file_addrs = _addresses(exe, step=7)
    with open_target(proc.pid) as snap:
        sym = symbolizer_for(snap)
        mod = next(m.module for m in sym.modules if m.module.path == str(exe))
        assert mod.load_bias is not None and mod.load_bias % 4096 == 0 and mod.load_bias > 0
        live = sym.symbolize([a + mod.load_bias for a in file_addrs])
        libc = next(m for m in sym.modules if "libc.so" in m.module.path)
        printf_addr = symbols_of(libc.file or "").address_of("printf")
        assert printf_addr is not None
        (pf,) = sym.symbolize([printf_addr + (libc.module.load_bias or 0) + 1])
    files = symbolizer_for_file(str(exe)).symbolize(file_addrs)
    assert [_ours(f) for f in live] == [_ours(f) for f in files]
    assert all(f.module == str(exe) for f in live)
    assert [f.module_offset for f in live] == [a + mod.load_bias - mod.base for a in file_addrs]
    assert pf.function in ("printf", "__printf", "_IO_printf") and pf.function_offset == 1


@pytest.mark.parametrize("version", ["4", "5"])
def test_pyelftools_line_table_fallback_matches_llvm_symbolizer(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """Without symbolic: file:line from the bare line table (pyelftools), names from .symtab."""
    from memlens.symbols import dwarf

    exe = build_generated(build_dir / f"gen_lines_v{version}", "-fPIE", "-pie",
                          f"-gdwarf-{version}")  # fmt: skip
    addresses = _addresses(exe)
    expected = _llvm(exe, addresses, "--no-inlines")
    monkeypatch.setattr(dwarf, "available", lambda: False)
    frames = symbolizer_for_file(str(exe)).symbolize(addresses)
    assert all(f.inlined_by == () for f in frames)
    ours = [[(f.function, f.file, f.line)] for f in frames]
    mismatches = [(hex(a), o, e) for a, o, e in zip(addresses, ours, expected, strict=True)
                  if o != e]  # fmt: skip
    assert not mismatches, (len(mismatches), mismatches[:5])
    assert len({f.line for f in frames}) > 200  # many distinct lines really looked up

"""The provider chain is data: order, a registered provider, the Breakpad slot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memlens.errors import UsageError
from memlens.symbols import providers
from memlens.symbols.chain import symbolizer_for_file
from memlens.symbols.providers import Context, Hits, parse_chain, register_provider
from memlens.symbols.symtable import SymbolTable
from tests.symbols.progs import build_generated, functions_of


class Constant:
    """Names every address it is asked about ``name`` (offset 0)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def lookup(self, addresses: np.ndarray) -> Hits:
        hits = Hits.none(len(addresses))
        hits.found[:] = True
        hits.function[:] = self.name
        hits.has_offset[:] = True
        return hits


def test_chain_order_is_data(build_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = build_generated(build_dir / "prov", "-fPIE", "-pie")
    name, start, _size = next(f for f in functions_of(exe) if f[0] == "f3")
    monkeypatch.setitem(providers.PROVIDERS, "everything", lambda _ctx: Constant("X"))
    first = symbolizer_for_file(str(exe), chain=["everything", "symtab"])
    last = symbolizer_for_file(str(exe), chain=["symtab", "everything"])
    (a,) = first.symbolize([start + 1])
    (b,) = last.symbolize([start + 1])
    assert (a.function, b.function, b.function_offset) == ("X", name, 1)
    # an address no symbol contains falls through to the next provider
    (c,) = last.symbolize([1])
    assert c.function == "X"


def test_user_table_and_breakpad_slot(build_dir: Path) -> None:
    exe = build_generated(build_dir / "prov2", "-fPIE", "-pie")
    _n, start, _s = functions_of(exe)[0]
    table = SymbolTable(np.array([start], np.uint64), np.array([4], np.uint64), ["from_nm"])
    sym = symbolizer_for_file(str(exe), chain=["breakpad", "nm", "symtab"],
                              tables={exe.name: table})  # fmt: skip
    (f,) = sym.symbolize([start + 2])
    assert (f.function, f.function_offset) == ("from_nm", 2)  # the empty slot answers nothing
    assert "breakpad" in parse_chain(["breakpad"])
    with pytest.raises(UsageError, match="unknown symbol source 'nope'"):
        parse_chain(["nope"])


def test_register_provider(monkeypatch: pytest.MonkeyPatch, build_dir: Path) -> None:
    exe = build_generated(build_dir / "prov3", "-fPIE", "-pie")
    seen: list[Context] = []

    def factory(ctx: Context) -> Constant:
        seen.append(ctx)
        return Constant("BP")

    monkeypatch.setitem(providers.PROVIDERS, "breakpad", providers.PROVIDERS["breakpad"])
    register_provider("breakpad", factory)
    sym = symbolizer_for_file(str(exe), chain=["breakpad"])
    assert [f.function for f in sym.symbolize([functions_of(exe)[0][1]] * 3)] == ["BP"] * 3
    assert len(seen) == 1 and seen[0].module is not None and seen[0].module.path == str(exe)

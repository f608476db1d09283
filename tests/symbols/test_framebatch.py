"""The batch path: ``Symbolizer.resolve`` (columns, frames on access) against ``symbolize``."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memlens.errors import MemlensError
from memlens.symbols.chain import symbolizer_for_file
from memlens.symbols.dwarflines import ElfLineTable
from memlens.symbols.frame import Frame
from tests.symbols.progs import build_generated, functions_of


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_generated(tmp_path_factory.mktemp("batch") / "gen_batch", "-fPIE", "-pie")


def test_resolve_and_symbolize_agree_with_repeats_and_any_order(program: Path) -> None:
    funcs = functions_of(program)
    inside = [a for _n, start, size in funcs for a in (start, start + size - 1)]
    outside = [1 << 62, (1 << 64) - 1]  # above the image (which starts at 0)
    rng = random.Random(7)
    addresses = inside * 3 + outside
    rng.shuffle(addresses)
    sym = symbolizer_for_file(str(program))
    batch = sym.resolve(addresses)
    frames = sym.symbolize(addresses)
    # one by one: the batch answers exactly what single lookups answer
    single = [sym.symbolize([a])[0] for a in addresses]
    assert frames == single
    assert len(batch) == len(addresses)
    assert [batch[i] for i in range(len(batch))] == frames
    assert batch[5:17] == frames[5:17]
    assert list(batch) == frames
    assert len(batch.unique) == len(inside) + len(outside)
    # repeats share one frame object
    first = {}
    for a, f in zip(addresses, frames, strict=True):
        assert first.setdefault(a, f) is f
    names = {name: start for name, start, _s in funcs}
    for f in frames:
        if f.address in outside:
            assert f == Frame(f.address)
        else:
            # the real function: the frame itself, or the last it was inlined into
            outer = f.inlined_by[-1] if f.inlined_by else f
            assert f.module == str(program) and outer.function is not None
            assert outer.function_offset == f.address - names[outer.function]


def test_resolve_of_nothing_and_of_negative_addresses(program: Path) -> None:
    sym = symbolizer_for_file(str(program))
    assert sym.symbolize([]) == [] and len(sym.resolve(np.zeros(0, np.uint64))) == 0
    # a negative number is the target's two's complement address
    assert sym.symbolize([-1]) == [Frame((1 << 64) - 1)]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # fmt: skip
@given(data=st.data())
def test_line_table_reader_survives_corruption(program: Path, tmp_path: Path,
                                               data: st.DataObject) -> None:  # fmt: skip
    """Bit flips in .debug_line / .debug_info and cuts: a FormatError or answers, nothing else."""
    raw = bytearray(program.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(len(raw) // 2, len(raw)))]
    p = tmp_path / "bad.elf"
    p.write_bytes(bytes(raw))
    try:
        table = ElfLineTable(str(p), 0)
        table.lookup([0x1000, 0x1200, -5])
    except MemlensError:
        pass


def test_line_table_cache_is_reused_and_damage_is_ignored(
    program: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memlens.symbols import dwarflines
    from memlens.symbols.elffile import ElfFile

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with ElfFile(str(program)) as elf:
        build_id = elf.build_id()
    assert build_id is not None
    addresses = [a for _n, start, size in functions_of(program) for a in range(start, start + size)]
    first = dwarflines.ElfLineTable(str(program), 0, build_id)
    (cached,) = (tmp_path / "memlens" / "symcache").glob(f"{build_id.hex()}.lines*.npz")
    expected = first.lookup(addresses)
    assert sum(bool(x) for x in expected) > 0.9 * len(addresses)  # the table really answers
    parsed = []
    real_parse = dwarflines._parse
    monkeypatch.setattr(dwarflines, "_parse", lambda p: parsed.append(p) or real_parse(p))
    assert dwarflines.ElfLineTable(str(program), 0, build_id).lookup(addresses) == expected
    assert parsed == []  # answered from the cache
    cached.write_bytes(b"PK\x03\x04 not really a zip")
    assert dwarflines.ElfLineTable(str(program), 0, build_id).lookup(addresses) == expected
    assert parsed == [str(program)]  # damaged cache: parsed again (and rewritten)
    assert dwarflines.ElfLineTable(str(program), 0, build_id).lookup(addresses) == expected
    assert parsed == [str(program)]

"""10 000 random addresses per module against llvm-symbolizer (issue 18's acceptance).

Modules: the system libc with Debian's libc6-dbg debug file; libpython3.11 with
DWARF -- the running interpreter's own (a release build with -g), else Debian's
debug build from libpython3.11-dbg (Debian's release libpython3.11 has its
debug file only in the debian-debug archive); and a C++ program with lambdas,
templates and std::map built here at -O2 and -O3.  memlens is given the
library, llvm-symbolizer and nm the file with the symbols and DWARF (the
debug file when separate).  Outermost function, file:line and inline chain
length must agree with llvm-symbolizer; aliases at one address (nm) count as
the same function.  Every remaining difference must have a reason in
``EXPECTED`` / ``LINE_EXPECTED`` below, checked against nm/llvm's own output.
"""

from __future__ import annotations

import os
import random
import sysconfig
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from memlens.symbols.chain import symbolizer_for_file
from memlens.symbols.frame import Frame
from tests.symbols.cxx_progs import build_cxx
from tests.symbols.oracle import Answer, cxxfilt, llvm, nm_functions, plain

N = 10_000
SEED = 18


@dataclass
class Module:
    path: Path
    symbols: Path  # the file with .symtab and DWARF (the debug file when separate):
    # llvm-symbolizer and nm read it, memlens is given ``path`` and finds it


def _libc() -> Module:
    path = Path("/usr/lib/x86_64-linux-gnu/libc.so.6")
    if not path.exists():
        pytest.skip("no /usr/lib/x86_64-linux-gnu/libc.so.6")
    with path.open("rb") as f:
        note = ELFFile(f).get_section_by_name(".note.gnu.build-id")
        build_id = next(iter(note.iter_notes()))["n_desc"] if note else ""
    debug = Path(f"/usr/lib/debug/.build-id/{build_id[:2]}/{build_id[2:]}.debug")
    if not debug.exists():
        pytest.skip("libc6-dbg not installed (scripts/system-packages.txt lists it)")
    return Module(path, debug)


def _libpython() -> Module:
    candidates = [Path(sysconfig.get_config_var("LIBDIR") or "/nonexistent") /
                  "libpython3.11.so.1.0",
                  Path("/usr/lib/x86_64-linux-gnu/libpython3.11d.so.1.0")]  # fmt: skip
    for c in candidates:
        if c.exists():
            with c.open("rb") as f:
                if ELFFile(f).get_section_by_name(".debug_info") is not None:
                    return Module(c, c)
    pytest.skip("no libpython3.11 with DWARF (python3.11 built with -g, or libpython3.11-dbg)")


def _cxx(opt: str) -> Callable[[Path], Module]:
    def make(build_dir: Path) -> Module:
        exe = build_cxx(build_dir / f"agree{opt}", opt)
        return Module(exe, exe)

    return make


MODULES: dict[str, Callable[[Path], Module]] = {
    "libc": lambda _d: _libc(),
    "libpython3.11": lambda _d: _libpython(),
    "cxx-O2": _cxx("-O2"),
    "cxx-O3": _cxx("-O3"),
}


def _addresses(path: Path) -> list[int]:
    with path.open("rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        lo, size = text["sh_addr"], text["sh_size"]
    rng = random.Random(SEED)
    return sorted({rng.randrange(lo, lo + size) for _ in range(N)})


def _outer(f: Frame) -> Frame:
    return f.inlined_by[-1] if f.inlined_by else f


@dataclass
class Row:
    address: int
    ours: Frame
    want: Answer


@dataclass
class Names:
    """Demangled plain names (c++filt) and nm's aliases of one module."""

    gnu: dict[str, str]
    symbols: dict[str, set[tuple[int, int]]]  # plain name -> (address, size) from nm -S

    def name(self, raw: str | None) -> str | None:
        return plain(self.gnu.get(raw, raw)) if raw is not None else None

    def same(self, ours: str | None, theirs: str | None) -> bool:
        if ours == theirs:
            return True
        if ours is None or theirs is None:
            return False
        return bool({a for a, _s in self.symbols.get(ours, ())}
                    & {a for a, _s in self.symbols.get(theirs, ())})

    def contains(self, name: str | None, address: int) -> bool:
        """nm has a symbol ``name`` whose extent contains ``address``."""
        return any(a <= address < a + s for a, s in self.symbols.get(name or "", ()))


def _names(module: Module, rows: list[Row]) -> Names:
    raw = nm_functions(module.symbols)
    mangled = {n for r in rows for a in (r.want.linkage, r.want.short) for n, _f, _l in a if n}
    gnu = cxxfilt(mangled | set(raw))
    symbols: dict[str, set[tuple[int, int]]] = {}
    for name, where in raw.items():
        key = plain(gnu.get(name, name))
        assert key is not None
        symbols.setdefault(key, set()).update(where)
    return Names(gnu, symbols)


# Differences that are not memlens's mistakes (or are its known limits), each with the
# check that proves the reason.
def _llvm_names_unit_without_rows(row: Row, _names: Names) -> bool:
    """Code of a compilation unit without line rows (crtstuff.c): llvm-symbolizer prints
    the unit's file with line 0; memlens leaves file:line unknown."""
    return row.want.linkage[0][2] is None and row.ours.file is None and row.ours.line is None


def _rows_without_function(row: Row, names: Names) -> bool:
    """Line rows no DWARF function covers (LTO-merged code in libpython): memlens reads
    lines through functions (SymCache) and has none; the symbol table (nm) names the
    function, as llvm-symbolizer does."""
    ours = row.ours
    return (ours.file is None and ours.function is not None and not ours.inlined_by
            and names.same(names.name(ours.function), names.name(row.want.linkage[-1][0]))
            and names.contains(names.name(ours.function), row.address))  # fmt: skip


def _padding_line(row: Row, _names: Names) -> bool:
    """Alignment padding: memlens gives the line of the function's last byte, llvm-symbolizer
    the line table's last row before the padding; both in the same file, neither a function."""
    ours = row.ours
    want = row.want.linkage[0]
    return (ours.note or "").startswith("padding after") and want[0] is None and (
        want[1] is not None and (ours.file is None or os.path.normpath(ours.file) == want[1]))


LINE_EXPECTED: dict[str, Callable[[Row, Names], bool]] = {
    "line rows that no DWARF function covers: memlens has no file:line there":
        _rows_without_function,
    "padding: a different line row of the same file, or none":
        _padding_line,
    "llvm-symbolizer prints the unit's name and line 0 where the unit has no line rows":
        _llvm_names_unit_without_rows,
}  # fmt: skip


#: outermost function: no difference is expected (aliases at one address already agree)
EXPECTED: dict[str, Callable[[Row, Names], bool]] = {}


@pytest.mark.slow
@pytest.mark.parametrize("which", list(MODULES))
def test_agrees_with_llvm_symbolizer(build_dir: Path, which: str) -> None:
    module = MODULES[which](build_dir)
    addresses = _addresses(module.path)
    answers = llvm(module.symbols, addresses)
    frames = symbolizer_for_file(str(module.path)).symbolize(addresses)
    rows = [Row(a, f, w) for a, f, w in zip(addresses, frames, answers, strict=True)]
    names = _names(module, rows)
    n = len(rows)
    func_bad, line_bad, depth_bad = [], [], []
    for r in rows:
        ours = names.name(_outer(r.ours).function)
        if not names.same(ours, names.name(r.want.linkage[-1][0])):
            func_bad.append(r)
        top = r.want.linkage[0]
        file = os.path.normpath(r.ours.file) if r.ours.file else None
        if (file, r.ours.line) != (top[1], top[2]):
            line_bad.append(r)
        if len(r.ours.inlined_by) + 1 != len(r.want.linkage):
            depth_bad.append(r)
    reasons: Counter[str] = Counter()
    unexplained = []
    for bad, expected in ((func_bad, EXPECTED), (line_bad, LINE_EXPECTED)):
        for r in bad:
            why = next((k for k, check in expected.items() if check(r, names)), None)
            if why is None:
                unexplained.append((hex(r.address), [(f.function, f.file, f.line)
                                    for f in (r.ours, *r.ours.inlined_by)], r.want.linkage))
            else:
                reasons[why] += 1

    def show(bad: list[Row]) -> list[object]:
        return [(hex(r.address), [(f.function, f.file, f.line) for f in (r.ours,
                 *r.ours.inlined_by)], r.want.linkage) for r in bad[:6]]  # fmt: skip

    print(f"{which}: {n} addresses; function {1 - len(func_bad) / n:.4f} "
          f"({dict(reasons)}), file:line {1 - len(line_bad) / n:.4f}, "
          f"depth {1 - len(depth_bad) / n:.4f}")
    assert not unexplained, (len(unexplained), unexplained[:10])
    assert (n - len(func_bad)) / n >= 0.995, show(func_bad)
    assert (n - len(line_bad)) / n >= 0.995, show(line_bad)
    assert (n - len(depth_bad)) / n >= 0.999, show(depth_bad)

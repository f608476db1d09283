"""Function names as issue 18 asks: DWARF's function, pieces after their parent, public aliases."""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

import pytest

from memlens.symbols.chain import symbolizer_for_file
from memlens.symbols.demangle import demangle
from memlens.symbols.naming import display, public, split_fragment
from tests.conftest import need_tool
from tests.symbols.oracle import nm_functions


def test_fragment_suffixes() -> None:
    # the suffixes GCC writes (gcc/cgraphclones.cc, ipa-split.cc, ipa-sra.cc, lto)
    assert split_fragment("f.cold") == ("f", ("cold",))
    assert split_fragment("f.cold.3") == ("f", ("cold",))
    assert split_fragment("str_to_mpn.part.0.constprop.0") == ("str_to_mpn", ("part", "constprop"))
    assert split_fragment("ast2obj_expr.lto_priv.0.cold") == ("ast2obj_expr", ("cold",))
    assert split_fragment("f.isra.0") == ("f", ("isra",))
    assert split_fragment("a.b") == ("a.b", ())
    assert split_fragment(".cold") == (".cold", ())
    assert display("xdr_uint32_t@GLIBC_2.2.5") == "xdr_uint32_t"
    assert display("_PyEval_EvalFrameDefault.cold") == "_PyEval_EvalFrameDefault [cold]"
    assert public("__GI___confstr") == "__confstr" and public("__EI__authenticate") == (
        "_authenticate")


def _libpython() -> Path:
    lib = Path(sysconfig.get_config_var("LIBDIR") or "/nonexistent") / "libpython3.11.so.1.0"
    if not lib.exists():
        pytest.skip("the interpreter has no libpython3.11.so.1.0")
    return lib


def test_eval_loop_names_every_address_of_its_hot_and_cold_parts() -> None:
    """_PyEval_EvalFrameDefault's entry was named after another function's .cold piece."""
    lib = _libpython()
    parts = {name: where for name, where in nm_functions(lib).items()
             if name.split(".")[0] == "_PyEval_EvalFrameDefault"}  # fmt: skip
    hot = parts.get("_PyEval_EvalFrameDefault")
    if not hot or not any(".cold" in n for n in parts):
        pytest.skip("this libpython has no hot/cold split eval loop")
    addresses, expect = [], []
    for name, where in parts.items():
        for start, size in where:
            assert size > 0
            shown = "_PyEval_EvalFrameDefault" + (" [cold]" if ".cold" in name else "")
            addresses += range(start, start + size)
            expect += [(shown, a - start) for a in range(start, start + size)]
    frames = symbolizer_for_file(str(lib)).symbolize(addresses)
    got = [(f.inlined_by[-1] if f.inlined_by else f) for f in frames]
    assert [(g.function, g.function_offset) for g in got] == expect


def test_public_alias_wins() -> None:
    libc = Path("/usr/lib/x86_64-linux-gnu/libc.so.6")
    debug = list(Path("/usr/lib/debug/.build-id").glob("*/*.debug"))
    if not libc.exists() or not debug:
        pytest.skip("no libc with libc6-dbg")
    sym = symbolizer_for_file(str(libc))
    table = sym.module_symbols(0).symtab()
    assert table is not None
    checks = {"confstr": 0x10, "xdr_uint32_t": 0, "_authenticate": 0}
    for name, off in checks.items():
        addr = table.address_of(name) or table.address_of(f"{name}@GLIBC_2.2.5") or (
            table.address_of(f"__GI_{name}"))  # fmt: skip
        assert addr is not None, name
        (f,) = sym.symbolize([addr + off])
        outer = f.inlined_by[-1] if f.inlined_by else f
        assert (outer.function, outer.function_offset) == (name, off)


def test_demangling_matches_cxxfilt() -> None:
    """GNU's spelling (c++filt is the oracle): lambdas as {lambda(int)#2}."""
    names = [
        "_ZNSt17_Function_handlerIFiiEZL8make_opsiEUliE0_E9_M_invokeERKSt9_Any_dataOi",
        "_ZZ4mainENKUliE_clEi",
        "_ZN6shapes6unrollILi6EEEii",
        "_ZNSt8_Rb_treeIiSt4pairIKiNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEESt10_Select1stISA_ESt4lessIiESaISA_EE8_M_eraseEPSt13_Rb_tree_nodeISA_E",
        "_ZGTtNKSt9exception4whatEv",  # a transaction clone
        "_ZN9__gnu_cxx13new_allocatorIcE8allocateEmPKv",
    ]
    gnu = subprocess.run([need_tool("c++filt")], input="\n".join(names) + "\n", text=True,
                         capture_output=True, check=True).stdout.split("\n")  # fmt: skip
    assert [demangle(n) for n in names] == gnu[: len(names)]
    assert "{lambda(int)#2}" in demangle(names[0])


def test_rust_names() -> None:
    assert demangle("_ZN3std2io5stdio6_print17h1234567890abcdefE") == "std::io::stdio::_print"
    assert demangle("_RNvCs1234_7mycrate3foo") == "mycrate::foo"


def test_msvc_names_match_llvm_undname() -> None:
    names = ["?foo@@YAXH@Z", "??0Widget@ui@@QEAA@XZ", "?Run@Task@@UEAAXXZ",
             "??$max@H@std@@YAAEBHAEBH0@Z"]  # fmt: skip
    out = subprocess.run([need_tool("llvm-undname")], input="\n".join(names) + "\n", text=True,
                         capture_output=True, check=True).stdout  # fmt: skip
    # llvm-undname echoes each name, then its demangled form, then a blank line
    want = [line for line in out.splitlines() if line and line not in names]
    assert [demangle(n) for n in names] == want

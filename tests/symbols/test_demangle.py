"""Demangled names through ``symbolize``: C++ (g++) vs ``c++filt``; Rust (rustc), both manglings."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from memlens.symbols.chain import symbolizer_for_file
from tests.conftest import need_tool

CXX = r"""
#include <cstdio>
#include <vector>
namespace outer { namespace inner {
template <typename T, int N> struct Box {
    T v[N];
    __attribute__((noinline)) T sum() const {
        T s{};
        for (int i = 0; i < N; i++) s += v[i];
        return s;
    }
    __attribute__((noinline)) Box &operator+=(const Box &o) {
        for (int i = 0; i < N; i++) v[i] += o.v[i];
        return *this;
    }
};
template <typename T> __attribute__((noinline)) T twice(T x) { return x + x; }
__attribute__((noinline)) int plain(std::vector<int> const &v, char c) { return (int)v.size() + c; }
}}
int main(int argc, char **) {
    outer::inner::Box<double, 3> a{{1, 2, 3}}, b{{4, 5, 6}};
    a += b;
    outer::inner::Box<int, 2> c{{argc, 2}};
    std::vector<int> v{1, 2};
    std::printf("%f %d %d %ld %d\n", a.sum(), c.sum(), outer::inner::twice(argc),
                outer::inner::twice(3L), outer::inner::plain(v, 'a'));
}
"""

RUST = r"""
pub mod shapes {
    pub struct Widget { pub n: u64 }
    impl Widget {
        #[inline(never)]
        pub fn frob(&self, k: u64) -> u64 { self.n.wrapping_mul(k) ^ 7 }
    }
    #[inline(never)]
    pub fn twice<T: Copy + std::ops::Add<Output = T>>(x: T) -> T { x + x }
}
fn main() {
    let w = shapes::Widget { n: std::env::args().count() as u64 };
    println!("{} {} {}", w.frob(3), shapes::twice(5u32), shapes::twice(2.5f64));
}
"""


def _functions(path: Path) -> list[tuple[str, int, int]]:
    """(mangled name, address, size) of every sized code symbol, from ``nm -S``."""
    out = subprocess.run([need_tool("nm"), "-S", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return [(p[3], int(p[0], 16), int(p[1], 16)) for p in map(str.split, out.splitlines())
            if len(p) == 4 and p[2] in "TtWw" and int(p[1], 16) > 1]  # fmt: skip


def _cxxfilt(names: list[str]) -> list[str]:
    out = subprocess.run([need_tool("c++filt")], input="\n".join(names) + "\n", check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return out.splitlines()


def _names(path: Path, chain: list[str] | None, funcs: list[tuple[str, int, int]]) -> list[str]:
    frames = symbolizer_for_file(str(path), chain=chain).symbolize([a + 1 for _n, a, _s in funcs])
    assert all(f.function_offset in (1, None) for f in frames)
    return [f.function or "" for f in frames]


@pytest.mark.parametrize("chain", [["symtab"], None], ids=["symtab", "default"])
def test_cxx_names_match_cxxfilt(build_dir: Path, chain: list[str] | None) -> None:
    gxx = need_tool("g++")
    src, exe = build_dir / "demangle.cpp", build_dir / "demangle_cxx"
    src.write_text(CXX)
    subprocess.run([gxx, "-O0", "-g", "-o", str(exe), str(src)], check=True)
    funcs = _functions(exe)
    ours = _names(exe, chain, funcs)
    gnu = _cxxfilt([n for n, _a, _s in funcs])
    assert sum(n.startswith("_Z") for n, _a, _s in funcs) >= 20  # templates from std too
    # LLVM's demangler closes nested templates as ">>", GNU's as "> >": the only difference
    assert [n.replace("> >", ">>") for n in ours] == [n.replace("> >", ">>") for n in gnu]
    assert "outer::inner::Box<double, 3>::sum() const" in ours
    assert "outer::inner::Box<double, 3>::operator+=(outer::inner::Box<double, 3> const&)" in ours
    assert "long outer::inner::twice<long>(long)" in ours


@pytest.mark.parametrize("mangling", ["legacy", "v0"])
def test_rust_names(build_dir: Path, mangling: str) -> None:
    rustc = need_tool("rustc")
    src, exe = build_dir / "demangle.rs", build_dir / f"demangle_rs_{mangling}"
    src.write_text(RUST)
    # stable rustc mangles "legacy" by default and refuses to be asked for it explicitly
    flags = ["-C", "symbol-mangling-version=v0"] if mangling == "v0" else []
    subprocess.run([rustc, "-C", "opt-level=0", "-g", *flags, "--crate-name", "m", "-o",
                    str(exe), str(src)], check=True, capture_output=True)  # fmt: skip
    funcs = [f for f in _functions(exe) if re.search(r"shapes", f[0])]
    if mangling == "legacy" and not all(n.startswith("_ZN") for n, _a, _s in funcs):
        pytest.skip("this rustc no longer mangles legacy by default")
    assert len(funcs) == 3  # frob and two instances of twice
    assert all(n.startswith("_ZN" if mangling == "legacy" else "_R") for n, _a, _s in funcs)
    ours = _names(exe, ["symtab"], funcs)
    assert ours == _names(exe, None, funcs)
    # c++filt prints legacy hashes and v0 crate disambiguators; memlens drops them as
    # rustfilt does (rustc-demangle's alternate form)
    gnu = [re.sub(r"::h[0-9a-f]{16}$", "", re.sub(r"\[[0-9a-f]+\]", "", n))
           for n in _cxxfilt([n for n, _a, _s in funcs])]  # fmt: skip
    assert ours == gnu
    if mangling == "legacy":
        assert sorted(ours) == ["m::shapes::Widget::frob", "m::shapes::twice", "m::shapes::twice"]
    else:
        assert sorted(ours) == ["<m::shapes::Widget>::frob", "m::shapes::twice::<f64>",
                                "m::shapes::twice::<u32>"]  # fmt: skip

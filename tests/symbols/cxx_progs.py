"""A C++ program with lambdas, templates and inlined std::map code, for the agreement tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import need_tool

SOURCE = r"""
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace shapes {
template <typename T> struct Box {
    T value;
    explicit Box(T v) : value(v) {}
    template <typename F> auto map(F f) const { return Box<decltype(f(value))>(f(value)); }
    T get() const { return value; }
};

struct Registry {
    std::map<std::string, int> counts;
    std::map<int, std::vector<double>> series;
    void add(const std::string &k, int v) { counts[k] += v; series[v % 17].push_back(v * 0.5); }
    int total() const {
        int t = 0;
        for (const auto &kv : counts) t += kv.second;
        return t;
    }
};

template <int N> int unroll(int x) { return unroll<N - 1>(x * 3 + N) ^ (x >> 2); }
template <> int unroll<0>(int x) { return x; }
}  // namespace shapes

static std::vector<std::function<int(int)>> make_ops(int seed) {
    std::vector<std::function<int(int)>> ops;
    ops.push_back([seed](int x) { return x * seed + 1; });
    ops.push_back([](int x) { return shapes::unroll<6>(x); });
    ops.push_back([&ops](int x) { return static_cast<int>(ops.size()) + x; });
    return ops;
}

// many instantiations: the program's own code outweighs the C runtime's start-up code
template <int K> __attribute__((noinline)) int work(int n) {
    std::map<int, std::string> m;
    auto scale = [n](int x) { return (x * (K + 3)) ^ n; };
    for (int i = 0; i < n; i++) m.emplace(scale(i) % (K + 11), std::to_string(i * K));
    int t = 0;
    for (const auto &kv : m) t += kv.first + static_cast<int>(kv.second.size());
    std::vector<int> v(m.size());
    std::transform(m.begin(), m.end(), v.begin(), [](const auto &kv) { return kv.first; });
    return t + shapes::unroll<K % 5>(static_cast<int>(v.size()));
}
template <int... K> int work_all(int n, std::integer_sequence<int, K...>) {
    return (work<K>(n) + ...);
}

__attribute__((noinline)) int churn(shapes::Registry &r, int n) {
    auto key = [](int i) { return std::string("k") + std::to_string(i % 97); };
    for (int i = 0; i < n; i++) r.add(key(i), i);
    std::vector<int> v;
    for (const auto &kv : r.series) v.push_back(static_cast<int>(kv.second.size()));
    std::sort(v.begin(), v.end(), [](int a, int b) { return a > b; });
    return v.empty() ? 0 : v[0];
}

int main(int argc, char **argv) {
    int n = argc > 1 ? std::atoi(argv[1]) : 100;
    shapes::Registry r;
    int s = churn(r, n) + work_all(n, std::make_integer_sequence<int, 48>{});
    auto ops = make_ops(n);
    for (auto &op : ops) s += op(s);
    shapes::Box<int> b(s);
    auto d = b.map([](int x) { return x * 0.25; }).map([](double x) { return std::to_string(x); });
    std::printf("%d %d %s\n", s, r.total(), d.get().c_str());
    return 0;
}
"""


def build_cxx(out: Path, opt: str) -> Path:
    """The program compiled with ``-g`` at ``opt`` (``-O2``/``-O3``)."""
    gxx = need_tool("g++")
    src = out.with_suffix(".cc")
    src.write_text(SOURCE)
    subprocess.run([gxx, opt, "-g", "-std=c++17", "-o", str(out), str(src)], check=True)
    return out

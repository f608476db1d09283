"""Test programs compiled by the symbol tests (generated C with inlining, C++, Rust)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import compile_c, need_tool


def generated_source(functions: int = 40) -> str:
    """C with ``functions`` noinline functions, each inlining two static helpers."""
    parts = ["#include <stdio.h>", "#include <stdlib.h>", "volatile int sink;"]
    for i in range(functions):
        parts.append(
            f"static inline int h{i}a(int x) {{ int r = x * {i + 3}; "
            f"for (int k = 0; k < (x & 7); k++) r ^= r >> {1 + i % 5}; return r; }}\n"
            f"static inline int h{i}b(int x) {{ return h{i}a(x + {i}) + (x % {i + 2}); }}\n"
            f"__attribute__((noinline)) int f{i}(int n) {{\n"
            f"  int s = 0;\n  for (int j = 0; j < n; j++) {{\n"
            f"    s += h{i}b(j) - h{i}a(s);\n    if (s > {1000 + i}) s /= 3;\n  }}\n"
            f"  sink = s;\n  return s;\n}}"
        )
    calls = " + ".join(f"f{i}(n)" for i in range(functions))
    parts.append(
        "int main(int argc, char **argv) { int n = argc > 1 ? atoi(argv[1]) : 3;\n"
        f"  printf(\"%d\\n\", {calls});\n  fflush(stdout);\n"
        "  if (argc > 2) getchar();  /* tests keep the process alive on stdin */\n"
        "  return 0; }"
    )
    return "\n".join(parts) + "\n"


def build_generated(out: Path, *flags: str) -> Path:
    return compile_c(generated_source(), out, "-O2", *flags)


def functions_of(path: Path) -> list[tuple[str, int, int]]:
    """(name, address, size) of the FUNC symbols with a size, from ``nm -S``."""
    need_tool("nm")
    out = subprocess.run(["nm", "-S", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "Tt":
            found.append((parts[3], int(parts[0], 16), int(parts[1], 16)))
    return found

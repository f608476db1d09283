"""Python programs for the heap tests: interpreters of each version, a workload script
with a marked line per allocation site, a C extension, and the checks of its sites."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from heap_helpers import need_tool

from memlens.heap import pyframes
from memlens.heap.report import HeapReport

MINORS = sorted(pyframes.CODE_LAYOUTS)


@functools.cache
def find_python(minor: int) -> str | None:
    """An interpreter of version 3.minor: this one, one on PATH, or one pyenv has."""
    if sys.version_info[:2] == (3, minor):
        return sys.executable
    candidates = [shutil.which(f"python3.{minor}")]
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        bare = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True)
        for v in bare.stdout.split():
            if re.fullmatch(rf"3\.{minor}\.\d+", v):
                prefix = subprocess.run([pyenv, "prefix", v], capture_output=True, text=True)
                candidates.append(f"{prefix.stdout.strip()}/bin/python3.{minor}")
    for c in candidates:
        if c is None:
            continue
        probe = subprocess.run([c, "-c", "import sys; print(sys.version_info[1])"],
                               capture_output=True, text=True)  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip() == str(minor):
            return c
    return None


def config_of(python: str, expr: str) -> str:
    """``expr`` evaluated by ``python`` (its sysconfig, its types)."""
    code = f"import sys, sysconfig, types; print({expr})"
    return subprocess.run([python, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip

EXT = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
static void *kept[16];
static int nkept;
__attribute__((noinline)) static void *grab_block(size_t n) {
    void *p = malloc(n);
    if (p) memset(p, 1, n);
    return p;
}
static PyObject *grab(PyObject *self, PyObject *arg) {
    size_t n = PyLong_AsSize_t(arg);
    if (nkept < 16) kept[nkept++] = grab_block(n);
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"grab", grab, METH_O, ""}, {0}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "mlext", 0, -1, methods};
PyMODINIT_FUNC PyInit_mlext(void) { return PyModule_Create(&mod); }
"""

SCRIPT = """\
import asyncio
import sys
import threading

import mlext

hold = []


def build_table(n):
    table = {}
    for i in range(n):
        table[i] = i  # ALLOC-TABLE
    return table


def worker():
    hold.append(bytearray(1_500_000))  # ALLOC-THREAD


def chunks():
    for _ in range(3):
        yield bytearray(1_000_000)  # ALLOC-GEN


def use_ext():
    mlext.grab(2_000_000)  # ALLOC-EXT


def callback(k):
    hold.append(bytearray(700_000))  # ALLOC-CALLBACK
    return k


def sort_with_callback():
    return sorted([3, 1, 2], key=callback)  # CALL-SORTED


def two_lines():
    hold.append(bytearray(400_000))  # ALLOC-FIRST
    hold.append(bytearray(300_000))  # ALLOC-SECOND


async def fetch():
    hold.append(bytearray(600_000))  # ALLOC-CORO


keep = build_table(200_000)  # CALL-TABLE
t = threading.Thread(target=worker)
t.start()
t.join()
hold.extend(chunks())
use_ext()
sort_with_callback()  # CALL-SORT
two_lines()  # CALL-TWO
asyncio.run(fetch())
{end}
"""


def marker_line(text: str, marker: str) -> int:
    """The 1-based line of ``text`` carrying ``# marker`` (the test's oracle for lines)."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.rstrip().endswith("# " + marker):
            return n
    raise AssertionError(marker)


def build_ext(tmp: Path, python: str) -> None:
    gcc = need_tool("gcc")
    include = config_of(python, "sysconfig.get_paths()['include']")
    if not (Path(include) / "Python.h").exists():
        pytest.skip(f"no Python headers in {include}")
    src = tmp / "mlext.c"
    src.write_text(EXT)
    suffix = config_of(python, "sysconfig.get_config_var('EXT_SUFFIX')")
    subprocess.run([gcc, "-shared", "-fPIC", "-g", "-O1", f"-I{include}", str(src), "-o",
                    str(tmp / f"mlext{suffix}")], check=True)  # fmt: skip


def write_script(tmp: Path, end: str, python: str) -> Path:
    build_ext(tmp, python)
    script = tmp / "app.py"
    script.write_text(SCRIPT.replace("{end}", end))
    return script


def innermost_python(report: HeapReport, function: str) -> tuple[int, list[str | None], int]:
    """(index in the report, frame functions, line) of the first group whose innermost
    Python frame is ``function``."""
    for i, g in enumerate(report.groups):
        py = [f for f in g.frames if f.file is not None and f.file.endswith(".py")]
        if py and py[0].function == function:
            return i, [f.function for f in g.frames], py[0].line or 0
    raise AssertionError(f"no group for {function}: {[g.frames[:3] for g in report.groups[:8]]}")


def check_sites(report: HeapReport, script: Path) -> None:
    text = script.read_text()
    i, funcs, line = innermost_python(report, "build_table")
    assert i == 0, "the 200 000-item dict's table is the largest group"
    assert line == marker_line(text, "ALLOC-TABLE")
    group = report.groups[0]
    py = [f for f in group.frames if f.file == str(script)]
    assert [(f.function, f.line) for f in py] == [
        ("build_table", marker_line(text, "ALLOC-TABLE")),
        ("<module>", marker_line(text, "CALL-TABLE")),
    ]
    # Default view: native frames only below the innermost Python frame.
    first_py = next(k for k, f in enumerate(group.frames) if f.file == str(script))
    assert all(f.file == str(script) for f in group.frames[first_py:])
    assert group.bytes >= 200_000 * 8 * 3  # a 2**18-slot table: entries + indices

    # pymalloc's arenas are blocks: the 200 000 int objects (32 bytes each in
    # pymalloc) are inside arenas opened while build_table ran.
    arenas = sum(
        g.bytes for g in report.groups
        if any(f.function == "new_arena" for f in g.frames)
        and next((f.function for f in g.frames if f.file == str(script)), None) == "build_table"
    )  # fmt: skip
    assert arenas >= 200_000 * 32

    _, _, line = innermost_python(report, "worker")
    assert line == marker_line(text, "ALLOC-THREAD")
    _, _, line = innermost_python(report, "chunks")
    assert line == marker_line(text, "ALLOC-GEN")
    k, funcs, line = innermost_python(report, "use_ext")
    assert line == marker_line(text, "ALLOC-EXT")
    # The C extension's own frames sit right under the Python frame that called it.
    assert funcs[0] == "grab_block" and "grab" in funcs[: funcs.index("use_ext")]
    assert report.groups[k].bytes == 2_000_000
    # C calling back into Python: the callback's frame, then its caller's
    # (sorted() between them is native, hidden in this view).
    k, funcs, line = innermost_python(report, "callback")
    assert line == marker_line(text, "ALLOC-CALLBACK")
    assert [(f.function, f.line) for f in report.groups[k].frames if f.file == str(script)] == [
        ("callback", line),
        ("sort_with_callback", marker_line(text, "CALL-SORTED")),
        ("<module>", marker_line(text, "CALL-SORT")),
    ]
    assert report.groups[k].bytes == 3 * bytearray(700_000).__alloc__()  # + its NUL
    _, _, line = innermost_python(report, "fetch")
    assert line == marker_line(text, "ALLOC-CORO")
